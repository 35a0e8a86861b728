// Binding for POSIX shared-memory segments (native/posix/shm.cc).
//
// A segment handle is an External (type-tagged, so a forged value is refused)
// owning the descriptor, the current Mapping and a reference to the
// ArrayBuffer over it. close() detaches that ArrayBuffer before letting the
// Mapping go, so a JS view kept past close() sees length 0 instead of
// unmapped memory; munmap itself waits for the last owner (ArrayBuffer
// finalizer, pending waits).
#include "shm.h"

#include <unistd.h>

#include <cmath>
#include <string>

#include "../posix/shm.h"
#include "errors.h"
#include "modules.h"

namespace binding {

Mapping::~Mapping() {
  posix::Unmap(addr_, size_);
}

Napi::Error ClosedError(Napi::Env env, const char* what) {
  Napi::Error err = Napi::Error::New(env, std::string(what) + " is closed");
  err.Value().Set("code", Napi::String::New(env, "ERR_POSIX_IPC_CLOSED"));
  return err;
}

namespace {

const napi_type_tag kSegmentTag = {0x8a5c1d3e2f704b61ULL, 0x9e07c4b2d15a3f88ULL};

struct Segment {
  int fd = -1;
  std::shared_ptr<Mapping> mapping;           // null once closed
  Napi::Reference<Napi::ArrayBuffer> buffer;  // the ArrayBuffer over `mapping`

  ~Segment() {
    // GC backstop only: close() normally did this. Never unlinks.
    if (fd != -1) close(fd);
  }
};

Segment* UnwrapSegment(Napi::Value v) {
  if (!v.IsExternal() || !v.As<Napi::External<Segment>>().CheckTypeTag(&kSegmentTag)) {
    throw Napi::TypeError::New(v.Env(), "The \"handle\" argument must be a shared-memory handle");
  }
  return v.As<Napi::External<Segment>>().Data();
}

Segment* OpenSegment(Napi::Value v) {
  Segment* seg = UnwrapSegment(v);
  if (!seg->mapping) throw ClosedError(v.Env(), "SharedMemory");
  return seg;
}

void FinalizeBuffer(napi_env, void*, void* hint) {
  delete static_cast<std::shared_ptr<Mapping>*>(hint);
}

// An ArrayBuffer over the whole mapping; its finalizer owns a share of it.
// Raw Node-API rather than Napi::ArrayBuffer::New: if creation failed, Node
// may still call the finalizer, which must then find the hint intact.
Napi::ArrayBuffer NewBuffer(Napi::Env env, const std::shared_ptr<Mapping>& mapping) {
  auto* hint = new std::shared_ptr<Mapping>(mapping);
  napi_value ab;
  napi_status st = napi_create_external_arraybuffer(env, mapping->addr(), mapping->size(), FinalizeBuffer, hint, &ab);
  if (st != napi_ok) throw Napi::Error::New(env);
  return Napi::ArrayBuffer(env, ab);
}

// The largest ArrayBuffer the running Node.js accepts (buffer.constants.
// MAX_LENGTH), passed in by the TypeScript layer; never above 2^53 - 1.
uint64_t ArgMaxBytes(const Napi::CallbackInfo& info, size_t i) {
  double d = ArgNumber(info, i, "maxBytes");
  if (!(d >= 1)) throw Napi::RangeError::New(info.Env(), "The \"maxBytes\" argument must be >= 1");
  return d > 9007199254740991.0 ? 9007199254740991ULL : uint64_t(d);
}

uint64_t ArgSize(const Napi::CallbackInfo& info, size_t i) {
  double d = ArgNumber(info, i, "size");
  if (!(d >= 1) || d > 9007199254740991.0 || d != std::floor(d)) {
    throw Napi::RangeError::New(info.Env(), "The \"size\" argument must be an integer >= 1");
  }
  return uint64_t(d);
}

Napi::RangeError TooLarge(Napi::Env env, uint64_t size, uint64_t max) {
  return Napi::RangeError::New(env, "A segment of " + std::to_string(size) +
                                        " bytes is larger than the largest ArrayBuffer this Node.js supports (" +
                                        std::to_string(max) + " bytes)");
}

Napi::Value WrapSegment(Napi::Env env, int fd, std::shared_ptr<Mapping> mapping, Napi::ArrayBuffer ab) {
  auto* seg = new Segment();
  seg->mapping = std::move(mapping);
  seg->buffer = Napi::Persistent(ab);
  auto ext = Napi::External<Segment>::New(env, seg, [](Napi::Env, Segment* s) { delete s; });
  ext.TypeTag(&kSegmentTag);
  seg->fd = fd;  // only now: until here the caller's cleanup closes it
  return ext;
}

// shmOpen(name, create, size, mode, maxBytes) -> handle, or null when an
// existing segment still has size 0 (its creator is sizing it: the
// TypeScript layer retries).
//   create: shm_open(O_EXCL) + fchmod, then sized with pages reserved; on any
//     failure the half-made segment is unlinked and closed.
//   open: shm_open of an existing segment, size from fstat.
Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  bool create = ArgBool(info, 1, "create");
  uint64_t max = ArgMaxBytes(info, 4);
  int fd = -1;
  uint64_t size = 0;
  if (create) {
    size = ArgSize(info, 2);
    Check(env, posix::ShmCreateExclusive(name.c_str(), ArgUint32(info, 3, "mode"), &fd), name.c_str());
  } else {
    Check(env, posix::ShmOpenExisting(name.c_str(), &fd, &size), name.c_str());
    if (size == 0) {
      close(fd);
      return env.Null();
    }
  }
  // From here on a failure must undo what was made: nothing half-made stays.
  try {
    // Order: a size the system has no room for is ENOSPC, as the caller
    // would see it on a Node.js with larger ArrayBuffers; then the
    // ArrayBuffer limit, before any page is reserved.
    if (create) Check(env, posix::ShmCheckRoom(fd, size), name.c_str());
    if (size > max) throw TooLarge(env, size, max);
    if (create) Check(env, posix::ShmSetSize(fd, size), name.c_str());
    void* addr = nullptr;
    Check(env, posix::MapShared(fd, size_t(size), &addr), name.c_str());
    auto mapping = std::make_shared<Mapping>(addr, size_t(size));
    Napi::ArrayBuffer ab = NewBuffer(env, mapping);
    return WrapSegment(env, fd, std::move(mapping), ab);
  } catch (...) {
    if (create) posix::ShmUnlink(name.c_str());
    close(fd);
    throw;
  }
}

// shmBuffer(handle) -> the ArrayBuffer over the current mapping.
Napi::Value ShmBuffer(const Napi::CallbackInfo& info) {
  Segment* seg = OpenSegment(info[0]);
  return seg->buffer.Value();
}

// shmResize(handle, size, maxBytes) -> the new ArrayBuffer. The new mapping
// is made before the size changes, so any failure leaves the segment and the
// old buffer as they were; on success the old buffer is detached.
Napi::Value ShmResize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Segment* seg = OpenSegment(info[0]);
  uint64_t size = ArgSize(info, 1);
  uint64_t max = ArgMaxBytes(info, 2);
  Check(env, posix::ShmCheckRoom(seg->fd, size));
  if (size > max) throw TooLarge(env, size, max);
  void* addr = nullptr;
  // mmap beyond the end of the object is allowed; nothing touches the new
  // range before ftruncate/fallocate made it real.
  Check(env, posix::MapShared(seg->fd, size_t(size), &addr));
  auto mapping = std::make_shared<Mapping>(addr, size_t(size));
  Check(env, posix::ShmSetSize(seg->fd, size));
  Napi::ArrayBuffer ab = NewBuffer(env, mapping);
  Napi::ArrayBuffer old = seg->buffer.Value();
  if (!old.IsEmpty() && !old.IsDetached()) old.Detach();
  seg->buffer = Napi::Persistent(ab);
  seg->mapping = std::move(mapping);  // the old one goes with its last owner
  return ab;
}

// shmClose(handle): detach the buffer, then drop this owner of the mapping
// and close the descriptor. Idempotent.
Napi::Value ShmClose(const Napi::CallbackInfo& info) {
  Segment* seg = UnwrapSegment(info[0]);
  if (!seg->buffer.IsEmpty()) {
    Napi::ArrayBuffer ab = seg->buffer.Value();
    if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
    seg->buffer.Reset();
  }
  seg->mapping.reset();
  if (seg->fd != -1) {
    close(seg->fd);
    seg->fd = -1;
  }
  return info.Env().Undefined();
}

// shmFd(handle) -> the segment's descriptor (still the segment's: to pass
// to another process, which gets its own).
Napi::Value ShmFd(const Napi::CallbackInfo& info) {
  Segment* seg = OpenSegment(info[0]);
  return Napi::Number::New(info.Env(), seg->fd);
}

// shmFromFd(fd, maxBytes) -> handle, or null when the object has size 0.
// Maps the whole object behind a descriptor received from another process;
// the handle owns `fd` only on success (on a throw or null it stays the
// caller's).
Napi::Value ShmFromFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt32(info, 0, "fd");
  uint64_t max = ArgMaxBytes(info, 1);
  uint64_t size = 0;
  Check(env, posix::ShmSize(fd, &size));
  if (size == 0) return env.Null();
  if (size > max) throw TooLarge(env, size, max);
  void* addr = nullptr;
  Check(env, posix::MapShared(fd, size_t(size), &addr));
  auto mapping = std::make_shared<Mapping>(addr, size_t(size));
  Napi::ArrayBuffer ab = NewBuffer(env, mapping);
  return WrapSegment(env, fd, std::move(mapping), ab);
}

Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  std::string name = ArgString(info, 0, "name");
  Check(info.Env(), posix::ShmUnlink(name.c_str()), name.c_str());
  return info.Env().Undefined();
}

}  // namespace

SegmentSlice ResolveSlice(Napi::Value handle, double byte_offset, size_t length, size_t alignment) {
  Segment* seg = OpenSegment(handle);
  const size_t size = seg->mapping->size();
  if (!(byte_offset >= 0) || byte_offset != std::floor(byte_offset) || byte_offset > double(size) || length > size ||
      size_t(byte_offset) > size - length) {
    std::string where = byte_offset >= 0 && byte_offset <= 9007199254740991.0 && byte_offset == std::floor(byte_offset)
                            ? std::to_string(uint64_t(byte_offset))
                            : "invalid";
    throw Napi::RangeError::New(handle.Env(), "The " + std::to_string(length) + " bytes at byte offset " + where +
                                                  " are outside the segment (" + std::to_string(size) + " bytes)");
  }
  size_t offset = size_t(byte_offset);
  if (alignment > 1 && offset % alignment != 0) {
    throw Napi::RangeError::New(handle.Env(), "The byte offset " + std::to_string(offset) + " is not a multiple of " +
                                                  std::to_string(alignment));
  }
  // mmap returns page-aligned addresses, so the offset's alignment is the
  // address's. The aliasing shared_ptr owns the mapping, points at the slice.
  void* address = static_cast<char*>(seg->mapping->addr()) + offset;
  return {address, std::shared_ptr<const void>(seg->mapping, address)};
}

void InitShm(Napi::Env env, Napi::Object exports) {
  exports.Set("shmOpen", Napi::Function::New(env, ShmOpen, "shmOpen"));
  exports.Set("shmBuffer", Napi::Function::New(env, ShmBuffer, "shmBuffer"));
  exports.Set("shmResize", Napi::Function::New(env, ShmResize, "shmResize"));
  exports.Set("shmClose", Napi::Function::New(env, ShmClose, "shmClose"));
  exports.Set("shmUnlink", Napi::Function::New(env, ShmUnlink, "shmUnlink"));
  exports.Set("shmFd", Napi::Function::New(env, ShmFd, "shmFd"));
  exports.Set("shmFromFd", Napi::Function::New(env, ShmFromFd, "shmFromFd"));
}

}  // namespace binding
