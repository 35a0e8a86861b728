// Binding for TCP sockets (native/posix/tcp.cc). lib/tcp.ts is the public
// face: it resolves names, checks arguments and sets the keep-alive policy.
// Errors carry `address` and `port`, as Node's own network errors do.
#include "../posix/tcp.h"

#include <string>

#include "../posix/socket.h"
#include "errors.h"
#include "modules.h"

namespace binding {

namespace {

// (family, host, port) at `i`.
posix::TcpAddress ArgAddress(const Napi::CallbackInfo& info, size_t i) {
  posix::TcpAddress addr;
  addr.family = ArgInt32(info, i, "family");
  if (addr.family != 4 && addr.family != 6)
    throw Napi::RangeError::New(info.Env(), "The \"family\" argument must be 4 or 6");
  addr.host = ArgString(info, i + 1, "host");
  addr.port = ArgInt32(info, i + 2, "port");
  if (addr.port < 0 || addr.port > 65535)
    throw Napi::RangeError::New(info.Env(), "The \"port\" argument must be 0 to 65535");
  return addr;
}

// (noDelay, idleS, intervalS, count, userTimeoutMs) at `i`.
posix::TcpOptions ArgOptions(const Napi::CallbackInfo& info, size_t i) {
  posix::TcpOptions opts;
  opts.no_delay = ArgBool(info, i, "noDelay");
  opts.keepalive_idle_s = ArgInt32(info, i + 1, "idleS");
  opts.keepalive_interval_s = ArgInt32(info, i + 2, "intervalS");
  opts.keepalive_count = ArgInt32(info, i + 3, "count");
  opts.user_timeout_ms = ArgUint32(info, i + 4, "userTimeoutMs");
  if (opts.keepalive_idle_s < 0 || opts.keepalive_interval_s < 0 || opts.keepalive_count < 0 ||
      opts.user_timeout_ms > 0x7fffffffu) {
    throw Napi::RangeError::New(info.Env(), "The keep-alive arguments must not be negative");
  }
  return opts;
}

Napi::Object AddressObject(Napi::Env env, const posix::TcpAddress& addr) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("family", Napi::Number::New(env, addr.family));
  out.Set("address", Napi::String::New(env, addr.host));
  out.Set("port", Napi::Number::New(env, addr.port));
  return out;
}

// tcpListen(family, host, port, backlog, v6Only) -> the listening descriptor.
Napi::Value TcpListen(const Napi::CallbackInfo& info) {
  posix::TcpAddress addr = ArgAddress(info, 0);
  int32_t backlog = ArgInt32(info, 3, "backlog");
  bool v6_only = ArgBool(info, 4, "v6Only");
  int fd = -1;
  CheckAddress(info.Env(), posix::TcpListen(addr, backlog, v6_only, &fd), addr.host, addr.port);
  return Napi::Number::New(info.Env(), fd);
}

// tcpAccept(fd, ...options) -> the connection's descriptor, or -1 when none is pending.
Napi::Value TcpAccept(const Napi::CallbackInfo& info) {
  int listen_fd = ArgInt32(info, 0, "fd");
  posix::TcpOptions opts = ArgOptions(info, 1);
  int fd = -1;
  Check(info.Env(), posix::TcpAccept(listen_fd, opts, &fd));
  return Napi::Number::New(info.Env(), fd);
}

// tcpConnect(family, host, port, ...options) -> [fd, inProgress].
Napi::Value TcpConnect(const Napi::CallbackInfo& info) {
  posix::TcpAddress addr = ArgAddress(info, 0);
  posix::TcpOptions opts = ArgOptions(info, 3);
  int fd = -1;
  bool in_progress = false;
  CheckAddress(info.Env(), posix::TcpConnect(addr, opts, &fd, &in_progress), addr.host, addr.port);
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, fd);
  out.Set(1u, in_progress);
  return out;
}

// tcpFinishConnect(fd, host, port): the outcome of a connection in progress,
// its failure named after the address it was for.
Napi::Value TcpFinishConnect(const Napi::CallbackInfo& info) {
  int fd = ArgInt32(info, 0, "fd");
  std::string host = ArgString(info, 1, "host");
  int32_t port = ArgInt32(info, 2, "port");
  CheckAddress(info.Env(), posix::FinishConnect(fd), host, port);
  return info.Env().Undefined();
}

// tcpConfigure(fd, ...options).
Napi::Value TcpConfigure(const Napi::CallbackInfo& info) {
  int fd = ArgInt32(info, 0, "fd");
  Check(info.Env(), posix::TcpConfigure(fd, ArgOptions(info, 1)));
  return info.Env().Undefined();
}

// tcpLocalAddress(fd) / tcpPeerAddress(fd) -> {family, address, port}.
Napi::Value TcpLocalAddress(const Napi::CallbackInfo& info) {
  posix::TcpAddress addr;
  Check(info.Env(), posix::TcpLocalAddress(ArgInt32(info, 0, "fd"), &addr));
  return AddressObject(info.Env(), addr);
}

Napi::Value TcpPeerAddress(const Napi::CallbackInfo& info) {
  posix::TcpAddress addr;
  Check(info.Env(), posix::TcpPeerAddress(ArgInt32(info, 0, "fd"), &addr));
  return AddressObject(info.Env(), addr);
}

}  // namespace

void InitTcp(Napi::Env env, Napi::Object exports) {
  exports.Set("tcpListen", Napi::Function::New(env, TcpListen, "tcpListen"));
  exports.Set("tcpAccept", Napi::Function::New(env, TcpAccept, "tcpAccept"));
  exports.Set("tcpConnect", Napi::Function::New(env, TcpConnect, "tcpConnect"));
  exports.Set("tcpFinishConnect", Napi::Function::New(env, TcpFinishConnect, "tcpFinishConnect"));
  exports.Set("tcpConfigure", Napi::Function::New(env, TcpConfigure, "tcpConfigure"));
  exports.Set("tcpLocalAddress", Napi::Function::New(env, TcpLocalAddress, "tcpLocalAddress"));
  exports.Set("tcpPeerAddress", Napi::Function::New(env, TcpPeerAddress, "tcpPeerAddress"));
}

}  // namespace binding
