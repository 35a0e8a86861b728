// Binding for wait/wake on a 32-bit word inside a shared-memory segment
// (native/posix/futex.cc). The word is addressed as (segment, byte offset)
// through ResolveSlice, never as a raw pointer from JS.
//
// futexWaitSync and futexWake are the hot path of a ring channel's sleep and
// wake-up: numbers in, a number out, no allocation beyond Node-API's own.
#include "../posix/futex.h"

#include <cstdint>

#include "../posix/clock.h"
#include "errors.h"
#include "modules.h"
#include "shm.h"
#include "waiter.h"

namespace binding {

namespace {

SegmentSlice Word(const Napi::CallbackInfo& info) {
  return ResolveSlice(info[0], ArgNumber(info, 1, "byteOffset"), sizeof(uint32_t), alignof(uint32_t));
}

// futexWaitSync(handle, byteOffset, expected, timeoutMs) -> 0 ok,
// 1 not-equal, 2 timed-out. Blocks the calling thread.
Napi::Value FutexWaitSync(const Napi::CallbackInfo& info) {
  SegmentSlice word = Word(info);
  uint32_t expected = uint32_t(ArgInt32(info, 2, "expected"));
  int64_t deadline = posix::DeadlineAfterMs(ArgNumber(info, 3, "timeoutMs"));
  posix::FutexResult result;
  Check(info.Env(), posix::FutexWait(static_cast<const uint32_t*>(word.address), expected, deadline, nullptr, &result));
  return Napi::Number::New(info.Env(), int(result));
}

// futexWait(handle, byteOffset, expected, timeoutMs, callback) -> wait handle.
// The wait thread owns a share of the mapping until it returns.
Napi::Value FutexWait(const Napi::CallbackInfo& info) {
  SegmentSlice word = Word(info);
  uint32_t expected = uint32_t(ArgInt32(info, 2, "expected"));
  int64_t deadline = posix::DeadlineAfterMs(ArgNumber(info, 3, "timeoutMs"));
  Napi::Function callback = ArgFunction(info, 4, "callback");
  return StartWait(info.Env(), callback, [word, expected, deadline](const std::atomic<bool>& cancelled) {
    WaitOutcome out;
    posix::FutexResult result = posix::FutexResult::kCancelled;
    out.status = posix::FutexWait(static_cast<const uint32_t*>(word.address), expected, deadline, &cancelled, &result);
    out.result = result == posix::FutexResult::kCancelled ? kCancelled : int(result);
    return out;
  });
}

// futexWake(handle, byteOffset, count) -> number of waiters woken.
Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  SegmentSlice word = Word(info);
  double count = ArgNumber(info, 2, "count");
  int32_t n = !(count > 0) ? 0 : count >= double(INT32_MAX) ? INT32_MAX : int32_t(count);
  int32_t woken = 0;
  Check(info.Env(), posix::FutexWake(static_cast<const uint32_t*>(word.address), n, &woken));
  return Napi::Number::New(info.Env(), woken);
}

}  // namespace

void InitFutex(Napi::Env env, Napi::Object exports) {
  exports.Set("futexWaitSync", Napi::Function::New(env, FutexWaitSync, "futexWaitSync"));
  exports.Set("futexWait", Napi::Function::New(env, FutexWait, "futexWait"));
  exports.Set("futexWake", Napi::Function::New(env, FutexWake, "futexWake"));
}

}  // namespace binding
