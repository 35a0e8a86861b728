#include "errors.h"

#include <sys/resource.h>
#include <uv.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace binding {

// errno values libuv has no name for (Node 20's libuv), which POSIX IPC calls
// do produce: an exec of a non-program, a child reaped elsewhere, robust locks.
static const char* ExtraErrnoName(int err) {
  switch (err) {
    case ENOEXEC:
      return "ENOEXEC";
    case ECHILD:
      return "ECHILD";
    case EDEADLK:
      return "EDEADLK";
    case EIDRM:
      return "EIDRM";
    case EOWNERDEAD:
      return "EOWNERDEAD";
    case ENOTRECOVERABLE:
      return "ENOTRECOVERABLE";
    default:
      return nullptr;
  }
}

static std::string Limit(int resource) {
  struct rlimit rl;
  if (getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return "";
  return " = " + std::to_string(static_cast<unsigned long long>(rl.rlim_cur));
}

// Which limit a resource error hit, appended to the message: "too many open
// files" alone does not say that a limit was reached, nor which one to raise.
static std::string LimitHint(int err, const char* syscall) {
  const std::string call = syscall != nullptr ? syscall : "";
  switch (err) {
    case EMFILE:
      return " (the per-process descriptor limit, RLIMIT_NOFILE" + Limit(RLIMIT_NOFILE) + ")";
    case ENFILE:
      return " (the system-wide descriptor limit, fs.file-max)";
    case ENOMEM:
      if (call == "mmap" || call == "sem_open") {
        return " (the per-process mapping limit, vm.max_map_count, or the address-space limit, RLIMIT_AS)";
      }
      return "";
    case EAGAIN:
      if (call == "fork") return " (the per-user process limit, RLIMIT_NPROC" + Limit(RLIMIT_NPROC) + ")";
      return "";
    default:
      return "";
  }
}

// The name and description of `err` as Node prints them.
static void Describe(int err, std::string* code, std::string* text) {
  // libuv's codes are the negated errno on Unix, so its tables give the same
  // names and descriptions Node prints for its own errors.
  // The _r forms: uv_err_name/uv_strerror strdup a message for an errno
  // libuv does not know (ECHILD, EIDRM, ...) and it is never freed.
  char name_buf[64];
  char text_buf[256];
  *code = uv_err_name_r(-err, name_buf, sizeof name_buf);
  *text = uv_strerror_r(-err, text_buf, sizeof text_buf);
  if (code->rfind("Unknown", 0) == 0) {
    const char* extra = ExtraErrnoName(err);
    *code = extra != nullptr ? extra : "E" + std::to_string(err);
    *text = std::strerror(err);
  }
}

static Napi::Error MakeError(Napi::Env env, const posix::Status& s, const std::string& code,
                             const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("errno", Napi::Number::New(env, -s.err));
  obj.Set("code", Napi::String::New(env, code));
  obj.Set("syscall", Napi::String::New(env, s.syscall ? s.syscall : "unknown"));
  return error;
}

Napi::Error SystemError(Napi::Env env, const posix::Status& s, const char* path) {
  std::string code;
  std::string text;
  Describe(s.err, &code, &text);
  std::string message = code + ": " + text + ", " + (s.syscall ? s.syscall : "unknown");
  if (path != nullptr) message += std::string(" '") + path + "'";
  message += LimitHint(s.err, s.syscall);
  Napi::Error error = MakeError(env, s, code, message);
  if (path != nullptr) error.Value().Set("path", Napi::String::New(env, path));
  return error;
}

Napi::Error AddressError(Napi::Env env, const posix::Status& s, const std::string& address, int port) {
  std::string code;
  std::string text;
  Describe(s.err, &code, &text);
  const bool v6 = address.find(':') != std::string::npos;
  std::string where = (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
  std::string message = code + ": " + text + ", " + (s.syscall ? s.syscall : "unknown") + " " + where;
  message += LimitHint(s.err, s.syscall);
  Napi::Error error = MakeError(env, s, code, message);
  error.Value().Set("address", Napi::String::New(env, address));
  error.Value().Set("port", Napi::Number::New(env, port));
  return error;
}

static Napi::Value Arg(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() ? info[i] : info.Env().Undefined();
}

static Napi::TypeError WrongType(Napi::Env env, const char* name, const char* want) {
  return Napi::TypeError::New(env, std::string("The \"") + name + "\" argument must be " + want);
}

double ArgNumber(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = Arg(info, i);
  if (!v.IsNumber()) throw WrongType(info.Env(), name, "a number");
  return v.As<Napi::Number>().DoubleValue();
}

// The range is checked before any conversion: converting a double outside
// the target type's range (or NaN) to an integer is undefined behaviour.
int32_t ArgInt32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  double d = ArgNumber(info, i, name);
  if (!(d >= double(INT32_MIN) && d <= double(INT32_MAX)) || d != std::trunc(d)) {
    throw Napi::RangeError::New(info.Env(), std::string("The \"") + name + "\" argument must be a 32-bit integer");
  }
  return int32_t(d);
}

uint32_t ArgUint32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  double d = ArgNumber(info, i, name);
  if (!(d >= 0 && d <= double(UINT32_MAX)) || d != std::trunc(d)) {
    throw Napi::RangeError::New(info.Env(),
                                std::string("The \"") + name + "\" argument must be an unsigned 32-bit integer");
  }
  return uint32_t(d);
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = Arg(info, i);
  if (!v.IsBoolean()) throw WrongType(info.Env(), name, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = Arg(info, i);
  if (!v.IsString()) throw WrongType(info.Env(), name, "a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) {
    throw WrongType(info.Env(), name, "a string without null bytes");
  }
  return s;
}

Napi::Uint8Array ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = Arg(info, i);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw WrongType(info.Env(), name, "a Uint8Array");
  }
  return v.As<Napi::Uint8Array>();
}

Napi::Function ArgFunction(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = Arg(info, i);
  if (!v.IsFunction()) throw WrongType(info.Env(), name, "a function");
  return v.As<Napi::Function>();
}

}  // namespace binding
