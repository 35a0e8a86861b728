// Binding for UNIX-domain stream sockets (native/posix/socket.cc). lib/socket.ts
// is the public face; the channels (lib/channels/unix-channel.ts) call these too.
#include "../posix/socket.h"

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

}  // namespace

void InitSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("unixListen", Napi::Function::New(env, UnixListen, "unixListen"));
  exports.Set("unixAccept", Napi::Function::New(env, UnixAccept, "unixAccept"));
  exports.Set("unixConnect", Napi::Function::New(env, UnixConnect, "unixConnect"));
  exports.Set("finishConnect", Napi::Function::New(env, FinishConnect, "finishConnect"));
  exports.Set("socketPair", Napi::Function::New(env, SocketPair, "socketPair"));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown, "shutdown"));
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials, "peerCredentials"));
}

}  // namespace binding
