// Turns a posix::Status into an Error shaped like Node's SystemError:
// message "<CODE>: <description>, <syscall> '<path>'" with code, errno
// (negative, as in Node's own errors), syscall and path.
#pragma once

#include <napi.h>

#include "../posix/status.h"

namespace binding {

Napi::Error SystemError(Napi::Env env, const posix::Status& s, const char* path = nullptr);

// Throws (as a JS exception) when `s` failed.
inline void Check(Napi::Env env, const posix::Status& s, const char* path = nullptr) {
  if (!s.ok()) throw SystemError(env, s, path);
}

// The same shape for a network call, as Node's own: `address` and `port`
// instead of `path`, and "<syscall> <address>:<port>" ("[::1]:80") in the message.
Napi::Error AddressError(Napi::Env env, const posix::Status& s, const std::string& address, int port);

inline void CheckAddress(Napi::Env env, const posix::Status& s, const std::string& address, int port) {
  if (!s.ok()) throw AddressError(env, s, address, port);
}

// Argument helpers: the TypeScript layer validates and names arguments; these
// are the native backstop so a wrong call can never crash the process.
int32_t ArgInt32(const Napi::CallbackInfo& info, size_t i, const char* name);
uint32_t ArgUint32(const Napi::CallbackInfo& info, size_t i, const char* name);
double ArgNumber(const Napi::CallbackInfo& info, size_t i, const char* name);
bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name);
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Uint8Array ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Function ArgFunction(const Napi::CallbackInfo& info, size_t i, const char* name);

}  // namespace binding
