// Binding for pipes, FIFOs and descriptor I/O (native/posix/fd.cc).
#include "../posix/fd.h"

#include <poll.h>

#include "../posix/clock.h"
#include "errors.h"
#include "modules.h"

namespace binding {

namespace {

Napi::Value Pipe(const Napi::CallbackInfo& info) {
  bool cloexec = ArgBool(info, 0, "cloexec");
  bool nb_read = ArgBool(info, 1, "nonBlockingRead");
  bool nb_write = ArgBool(info, 2, "nonBlockingWrite");
  int fds[2];
  Check(info.Env(), posix::MakePipe(cloexec, nb_read, nb_write, fds));
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, fds[0]);
  out.Set(1u, fds[1]);
  return out;
}

Napi::Value GetPipeCapacity(const Napi::CallbackInfo& info) {
  int cap = 0;
  Check(info.Env(), posix::GetPipeCapacity(ArgInt32(info, 0, "fd"), &cap));
  return Napi::Number::New(info.Env(), cap);
}

Napi::Value SetPipeCapacity(const Napi::CallbackInfo& info) {
  int cap = 0;
  Check(info.Env(), posix::SetPipeCapacity(ArgInt32(info, 0, "fd"), ArgInt32(info, 1, "size"), &cap));
  return Napi::Number::New(info.Env(), cap);
}

Napi::Value Mkfifo(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "path");
  Check(info.Env(), posix::MakeFifo(path.c_str(), ArgUint32(info, 1, "mode")), path.c_str());
  return info.Env().Undefined();
}

// Returns the descriptor, or -1 when the path is not a FIFO (the TypeScript
// layer turns that into an EFTYPE error naming the path).
Napi::Value OpenFifo(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "path");
  int fd = -1;
  bool not_fifo = false;
  Check(info.Env(), posix::OpenFifo(path.c_str(), ArgBool(info, 1, "writeEnd"), &fd, &not_fifo), path.c_str());
  return Napi::Number::New(info.Env(), not_fifo ? -1 : fd);
}

// read(fd, bytes) -> bytes read (0 at end of file), or null when a
// non-blocking descriptor has nothing to read.
Napi::Value Read(const Napi::CallbackInfo& info) {
  int fd = ArgInt32(info, 0, "fd");
  Napi::Uint8Array buf = ArgBytes(info, 1, "buffer");
  ssize_t n = 0;
  bool would_block = false;
  Check(info.Env(), posix::Read(fd, buf.Data(), buf.ByteLength(), &n, &would_block));
  if (would_block) return info.Env().Null();
  return Napi::Number::New(info.Env(), double(n));
}

// write(fd, bytes) -> bytes written, or null when a non-blocking descriptor
// has no room.
Napi::Value Write(const Napi::CallbackInfo& info) {
  int fd = ArgInt32(info, 0, "fd");
  Napi::Uint8Array buf = ArgBytes(info, 1, "buffer");
  ssize_t n = 0;
  bool would_block = false;
  Check(info.Env(), posix::Write(fd, buf.Data(), buf.ByteLength(), &n, &would_block));
  if (would_block) return info.Env().Null();
  return Napi::Number::New(info.Env(), double(n));
}

// writev(fd, [bytes, ...]) -> bytes written, or null when a non-blocking
// descriptor has no room. At most 8 buffers (a header and a payload is the
// use), so no allocation is needed.
Napi::Value Writev(const Napi::CallbackInfo& info) {
  int fd = ArgInt32(info, 0, "fd");
  if (info.Length() < 2 || !info[1].IsArray())
    throw Napi::TypeError::New(info.Env(), "The \"buffers\" argument must be an array");
  Napi::Array arr = info[1].As<Napi::Array>();
  uint32_t count = arr.Length();
  if (count == 0 || count > 8)
    throw Napi::RangeError::New(info.Env(), "The \"buffers\" argument must hold 1 to 8 buffers");
  iovec iov[8];
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(info.Env(), "The \"buffers\" argument must hold Uint8Arrays");
    }
    Napi::Uint8Array b = v.As<Napi::Uint8Array>();
    iov[i].iov_base = b.Data();
    iov[i].iov_len = b.ByteLength();
  }
  ssize_t n = 0;
  bool would_block = false;
  Check(info.Env(), posix::Writev(fd, iov, int(count), &n, &would_block));
  if (would_block) return info.Env().Null();
  return Napi::Number::New(info.Env(), double(n));
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Check(info.Env(), posix::Close(ArgInt32(info, 0, "fd")));
  return info.Env().Undefined();
}

// poll(fd, wantWrite, timeoutMs) -> true when ready (or hung up / in
// error: the next read or write tells which), false on timeout.
Napi::Value Poll(const Napi::CallbackInfo& info) {
  int fd = ArgInt32(info, 0, "fd");
  short events = ArgBool(info, 1, "wantWrite") ? POLLOUT : POLLIN;
  int64_t deadline = posix::DeadlineAfterMs(ArgNumber(info, 2, "timeoutMs"));
  short revents = 0;
  Check(info.Env(), posix::Poll(fd, events, deadline, &revents));
  if (revents & POLLNVAL) Check(info.Env(), posix::Status::Fail("poll", EBADF));
  return Napi::Boolean::New(info.Env(), revents != 0);
}

Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  Check(info.Env(), posix::SetNonBlocking(ArgInt32(info, 0, "fd"), ArgBool(info, 1, "on")));
  return info.Env().Undefined();
}

Napi::Value SetCloexec(const Napi::CallbackInfo& info) {
  Check(info.Env(), posix::SetCloexec(ArgInt32(info, 0, "fd"), ArgBool(info, 1, "on")));
  return info.Env().Undefined();
}

Napi::Value GetFlags(const Napi::CallbackInfo& info) {
  bool nonblock = false, cloexec = false;
  Check(info.Env(), posix::GetFlags(ArgInt32(info, 0, "fd"), &nonblock, &cloexec));
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("nonBlocking", nonblock);
  out.Set("cloexec", cloexec);
  return out;
}

// tryFlock(fd, exclusive) -> true when locked (or unlocked, for false),
// false when another open file description holds the lock. Never blocks.
Napi::Value TryFlock(const Napi::CallbackInfo& info) {
  bool would_block = false;
  Check(info.Env(), posix::TryFlock(ArgInt32(info, 0, "fd"), ArgBool(info, 1, "exclusive"), &would_block));
  return Napi::Boolean::New(info.Env(), !would_block);
}

}  // namespace

void InitFd(Napi::Env env, Napi::Object exports) {
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("getPipeCapacity", Napi::Function::New(env, GetPipeCapacity, "getPipeCapacity"));
  exports.Set("setPipeCapacity", Napi::Function::New(env, SetPipeCapacity, "setPipeCapacity"));
  exports.Set("mkfifo", Napi::Function::New(env, Mkfifo, "mkfifo"));
  exports.Set("openFifo", Napi::Function::New(env, OpenFifo, "openFifo"));
  exports.Set("read", Napi::Function::New(env, Read, "read"));
  exports.Set("write", Napi::Function::New(env, Write, "write"));
  exports.Set("writev", Napi::Function::New(env, Writev, "writev"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("poll", Napi::Function::New(env, Poll, "poll"));
  exports.Set("setNonBlocking", Napi::Function::New(env, SetNonBlocking, "setNonBlocking"));
  exports.Set("setCloexec", Napi::Function::New(env, SetCloexec, "setCloexec"));
  exports.Set("getFlags", Napi::Function::New(env, GetFlags, "getFlags"));
  exports.Set("tryFlock", Napi::Function::New(env, TryFlock, "tryFlock"));
}

}  // namespace binding
