// Unbounded waits (a semaphore, a futex word, a child without a pidfd) run on
// a dedicated thread of their own, never on libuv's thread pool, so any number
// of pending waits leaves fs, dns and zlib working. The outcome is delivered to
// a JS callback on the loop thread through a thread-safe function.
//
// The work function must wait in bounded slices and return kCancelled soon
// after `cancelled` becomes true (AbortSignal, close(), environment teardown).
#pragma once

#include <napi.h>

#include <atomic>
#include <functional>

#include "../posix/status.h"

namespace binding {

struct WaitOutcome {
  int result = 0;        // meaning chosen by the caller (acquired, timed out, ...)
  posix::Status status;  // a failure, reported to JS as a SystemError
};

constexpr int kCancelled = -1;

using WaitWork = std::function<WaitOutcome(const std::atomic<bool>& cancelled)>;

// Starts `work` on a new thread. `callback(err, result)` is called once on the
// loop thread. Returns a handle for CancelWait(). While pending, the wait keeps
// the event loop alive, like a pending fs request.
Napi::Value StartWait(Napi::Env env, Napi::Function callback, WaitWork work);

// JS: cancelWait(handle). Idempotent; a wait that already finished is not affected.
Napi::Value CancelWait(const Napi::CallbackInfo& info);

// Registers cancelWait and the environment cleanup that cancels pending waits.
void InitWaiter(Napi::Env env, Napi::Object exports);

}  // namespace binding
