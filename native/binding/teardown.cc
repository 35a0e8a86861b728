// What an environment leaves behind when it is torn down without running its
// JavaScript 'exit' listeners, as a worker thread stopped by terminate() is:
//
// - names: the FIFO a channel created, a UNIX server's socket file, a
//   shared-memory channel's segment nobody attached to. lib/internal/cleanup.ts
//   registers them next to its own exit listener and cancels them when that
//   ran (or the name was removed earlier). Each entry records the object's
//   identity (device and inode) when it is registered, and teardown removes
//   the name only while it still refers to that object: a successor's object
//   of the same name is never touched.
// - descriptors the channels own (ownFd until disownFd): nothing else would
//   close them, as no more JavaScript runs.
//
// This is the last cleanup hook to run (addon.cc registers it first; Node
// runs them in reverse order), so the pollers watching owned descriptors
// (poller.cc) are closed before the descriptors are.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "errors.h"
#include "modules.h"

namespace binding {

namespace {

enum Kind : int32_t { kFile = 0, kShm = 1 };

struct Entry {
  int32_t kind;
  std::string name;
  dev_t dev;
  ino_t ino;
};

struct Registry {
  std::map<uint32_t, Entry> entries;
  uint32_t next = 1;
  std::set<int> owned_fds;
};

// Each environment (main thread, each worker) runs on its own thread.
thread_local Registry* tls_registry = nullptr;

bool Identity(int32_t kind, const std::string& name, dev_t* dev, ino_t* ino) {
  struct stat st;
  if (kind == kFile) {
    if (lstat(name.c_str(), &st) != 0) return false;
  } else {
    int fd = shm_open(name.c_str(), O_RDONLY, 0);
    if (fd == -1) return false;
    int rc = fstat(fd, &st);
    close(fd);
    if (rc != 0) return false;
  }
  *dev = st.st_dev;
  *ino = st.st_ino;
  return true;
}

void RemoveIfSame(const Entry& e) {
  dev_t dev;
  ino_t ino;
  if (!Identity(e.kind, e.name, &dev, &ino) || dev != e.dev || ino != e.ino) return;
  if (e.kind == kFile)
    unlink(e.name.c_str());
  else
    shm_unlink(e.name.c_str());
}

// unlinkAtTeardown(kind, name) -> id for cancelUnlinkAtTeardown, or 0 when
// the name does not exist (nothing to remove).
Napi::Value UnlinkAtTeardown(const Napi::CallbackInfo& info) {
  int32_t kind = ArgInt32(info, 0, "kind");
  if (kind != kFile && kind != kShm) throw Napi::RangeError::New(info.Env(), "The \"kind\" argument must be 0 or 1");
  std::string name = ArgString(info, 1, "name");
  Entry e{kind, name, 0, 0};
  if (tls_registry == nullptr || !Identity(kind, name, &e.dev, &e.ino)) return Napi::Number::New(info.Env(), 0);
  uint32_t id = tls_registry->next++;
  tls_registry->entries.emplace(id, std::move(e));
  return Napi::Number::New(info.Env(), id);
}

Napi::Value CancelUnlinkAtTeardown(const Napi::CallbackInfo& info) {
  uint32_t id = ArgUint32(info, 0, "id");
  if (tls_registry != nullptr) tls_registry->entries.erase(id);
  return info.Env().Undefined();
}

// ownFd(fd): the calling environment owns `fd` until disownFd(fd); its
// teardown closes it. Nothing else changes: close() stays the owner's job.
Napi::Value OwnFd(const Napi::CallbackInfo& info) {
  int fd = ArgInt32(info, 0, "fd");
  if (tls_registry != nullptr) tls_registry->owned_fds.insert(fd);
  return info.Env().Undefined();
}

Napi::Value DisownFd(const Napi::CallbackInfo& info) {
  int fd = ArgInt32(info, 0, "fd");
  if (tls_registry != nullptr) tls_registry->owned_fds.erase(fd);
  return info.Env().Undefined();
}

// nameIdentity(kind, name) -> "dev:ino" of what `name` names now, or null
// when nothing does: the identity the object ledger records (lib/internal/ledger.ts).
Napi::Value NameIdentity(const Napi::CallbackInfo& info) {
  int32_t kind = ArgInt32(info, 0, "kind");
  if (kind != kFile && kind != kShm) throw Napi::RangeError::New(info.Env(), "The \"kind\" argument must be 0 or 1");
  dev_t dev;
  ino_t ino;
  if (!Identity(kind, ArgString(info, 1, "name"), &dev, &ino)) return info.Env().Null();
  std::string id = std::to_string(uint64_t(dev)) + ":" + std::to_string(uint64_t(ino));
  return Napi::String::New(info.Env(), id);
}

}  // namespace

void InitTeardown(Napi::Env env, Napi::Object exports) {
  exports.Set("unlinkAtTeardown", Napi::Function::New(env, UnlinkAtTeardown, "unlinkAtTeardown"));
  exports.Set("cancelUnlinkAtTeardown", Napi::Function::New(env, CancelUnlinkAtTeardown, "cancelUnlinkAtTeardown"));
  exports.Set("ownFd", Napi::Function::New(env, OwnFd, "ownFd"));
  exports.Set("disownFd", Napi::Function::New(env, DisownFd, "disownFd"));
  exports.Set("nameIdentity", Napi::Function::New(env, NameIdentity, "nameIdentity"));
  tls_registry = new Registry();
  napi_add_env_cleanup_hook(
      env,
      [](void* arg) {
        auto* registry = static_cast<Registry*>(arg);
        for (int fd : registry->owned_fds) close(fd);
        for (const auto& [id, entry] : registry->entries) RemoveIfSame(entry);
        if (tls_registry == registry) tls_registry = nullptr;
        delete registry;
      },
      tls_registry);
}

}  // namespace binding
