// Binding for UNIX-domain stream sockets (native/posix/socket.cc). lib/socket.ts
// is the public face; the channels (lib/channels/unix-channel.ts) call these too.
#include "../posix/socket.h"

#include <unistd.h>

#include <string>

#include "errors.h"
#include "modules.h"

namespace binding {

namespace {

// unixListen(path, backlog, mode) -> the listening descriptor.
Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "path");
  int32_t backlog = ArgInt32(info, 1, "backlog");
  uint32_t mode = ArgUint32(info, 2, "mode");
  if (mode > 07777) throw Napi::RangeError::New(info.Env(), "The \"mode\" argument must be <= 0o7777");
  int fd = -1;
  Check(info.Env(), posix::UnixListen(path.c_str(), backlog, mode, &fd), path.c_str());
  return Napi::Number::New(info.Env(), fd);
}

// unixAccept(fd) -> the connection's descriptor, or -1 when none is pending.
Napi::Value UnixAccept(const Napi::CallbackInfo& info) {
  int fd = -1;
  Check(info.Env(), posix::UnixAccept(ArgInt32(info, 0, "fd"), &fd));
  return Napi::Number::New(info.Env(), fd);
}

// unixConnect(path) -> [fd, inProgress].
Napi::Value UnixConnect(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "path");
  int fd = -1;
  bool in_progress = false;
  Check(info.Env(), posix::UnixConnect(path.c_str(), &fd, &in_progress), path.c_str());
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, fd);
  out.Set(1u, in_progress);
  return out;
}

Napi::Value FinishConnect(const Napi::CallbackInfo& info) {
  Check(info.Env(), posix::FinishConnect(ArgInt32(info, 0, "fd")));
  return info.Env().Undefined();
}

// socketPair() -> [fd, fd].
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  int fds[2];
  Check(info.Env(), posix::UnixSocketPair(fds));
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, fds[0]);
  out.Set(1u, fds[1]);
  return out;
}

Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Check(info.Env(), posix::Shutdown(ArgInt32(info, 0, "fd"), ArgBool(info, 1, "read"), ArgBool(info, 2, "write")));
  return info.Env().Undefined();
}

// peerCredentials(fd) -> {pid, uid, gid} of the other end of a connected
// UNIX socket.
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  posix::PeerCredentials cred;
  Check(info.Env(), posix::GetPeerCredentials(ArgInt32(info, 0, "fd"), &cred));
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("pid", Napi::Number::New(info.Env(), double(cred.pid)));
  out.Set("uid", Napi::Number::New(info.Env(), double(cred.uid)));
  out.Set("gid", Napi::Number::New(info.Env(), double(cred.gid)));
  return out;
}

// The descriptors of a JS array: 1 to kMaxPassedFds int32 values >= 0.
int ArgFds(const Napi::CallbackInfo& info, size_t i, int* fds) {
  if (info.Length() <= i || !info[i].IsArray())
    throw Napi::TypeError::New(info.Env(), "The \"fds\" argument must be an array of descriptors");
  Napi::Array arr = info[i].As<Napi::Array>();
  uint32_t count = arr.Length();
  if (count == 0 || count > uint32_t(posix::kMaxPassedFds))
    throw Napi::RangeError::New(
        info.Env(), "The \"fds\" argument must hold 1 to " + std::to_string(posix::kMaxPassedFds) + " descriptors");
  for (uint32_t k = 0; k < count; k++) {
    Napi::Value v = arr.Get(k);
    if (!v.IsNumber()) throw Napi::TypeError::New(info.Env(), "The \"fds\" argument must hold descriptors (numbers)");
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || d > 2147483647.0 || d != double(int32_t(d)))
      throw Napi::RangeError::New(info.Env(), "The \"fds\" argument must hold integers >= 0");
    fds[k] = int32_t(d);
  }
  return int(count);
}

// sendFds(fd, bytes, fds) -> bytes written, or null when the socket has no
// room. The kernel duplicates the descriptors: the caller still owns them.
Napi::Value SendFds(const Napi::CallbackInfo& info) {
  int fd = ArgInt32(info, 0, "fd");
  Napi::Uint8Array buf = ArgBytes(info, 1, "buffer");
  if (buf.ByteLength() == 0)
    throw Napi::RangeError::New(info.Env(), "The \"buffer\" argument must hold at least 1 byte to carry descriptors");
  int fds[posix::kMaxPassedFds];
  int count = ArgFds(info, 2, fds);
  ssize_t n = 0;
  bool would_block = false;
  Check(info.Env(), posix::SendWithFds(fd, buf.Data(), buf.ByteLength(), fds, count, &n, &would_block));
  if (would_block) return info.Env().Null();
  return Napi::Number::New(info.Env(), double(n));
}

// recvFds(fd, bytes, maxFds) -> null when nothing is there, else
// [bytesRead, ...descriptors] (close-on-exec, the caller's to close). A
// truncated control message is EMSGSIZE, its descriptors closed.
Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  int fd = ArgInt32(info, 0, "fd");
  Napi::Uint8Array buf = ArgBytes(info, 1, "buffer");
  int32_t max_fds = ArgInt32(info, 2, "maxFds");
  if (max_fds < 0 || max_fds > posix::kMaxPassedFds)
    throw Napi::RangeError::New(info.Env(),
                                "The \"maxFds\" argument must be 0 to " + std::to_string(posix::kMaxPassedFds));
  int fds[posix::kMaxPassedFds];
  int count = 0;
  ssize_t n = 0;
  bool would_block = false;
  Check(info.Env(), posix::RecvWithFds(fd, buf.Data(), buf.ByteLength(), max_fds, &n, fds, &count, &would_block));
  if (would_block) return info.Env().Null();
  Napi::Array out;
  try {
    out = Napi::Array::New(info.Env(), size_t(count) + 1);
    out.Set(0u, Napi::Number::New(info.Env(), double(n)));
    for (int k = 0; k < count; k++) out.Set(uint32_t(k + 1), fds[k]);
  } catch (...) {
    for (int k = 0; k < count; k++) close(fds[k]);  // never leaked, even if JS cannot take them
    throw;
  }
  return out;
}

// dupCloexec(fd) -> a close-on-exec duplicate.
Napi::Value DupCloexec(const Napi::CallbackInfo& info) {
  int out = -1;
  Check(info.Env(), posix::DupCloexec(ArgInt32(info, 0, "fd"), &out));
  return Napi::Number::New(info.Env(), out);
}

}  // namespace

void InitSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("unixListen", Napi::Function::New(env, UnixListen, "unixListen"));
  exports.Set("unixAccept", Napi::Function::New(env, UnixAccept, "unixAccept"));
  exports.Set("unixConnect", Napi::Function::New(env, UnixConnect, "unixConnect"));
  exports.Set("finishConnect", Napi::Function::New(env, FinishConnect, "finishConnect"));
  exports.Set("socketPair", Napi::Function::New(env, SocketPair, "socketPair"));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown, "shutdown"));
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials, "peerCredentials"));
  exports.Set("sendFds", Napi::Function::New(env, SendFds, "sendFds"));
  exports.Set("recvFds", Napi::Function::New(env, RecvFds, "recvFds"));
  exports.Set("dupCloexec", Napi::Function::New(env, DupCloexec, "dupCloexec"));
}

}  // namespace binding
