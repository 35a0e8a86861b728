// Binding for unnamed process-shared semaphores placed inside a shared-memory
// segment: sem_init(pshared = 1) at a (segment, byte offset), then the
// shared sem_t operations of native/posix/semaphore.h. Every call resolves
// its sem_t through ResolveSlice (bounds, alignment, closed segment).
#include <semaphore.h>

#include "../posix/clock.h"
#include "../posix/semaphore.h"
#include "../posix/shm.h"
#include "errors.h"
#include "modules.h"
#include "shm.h"
#include "waiter.h"

namespace binding {

namespace {

SegmentSlice Sem(const Napi::CallbackInfo& info) {
  return ResolveSlice(info[0], ArgNumber(info, 1, "byteOffset"), sizeof(sem_t), alignof(sem_t));
}

sem_t* Ptr(const SegmentSlice& s) {
  return static_cast<sem_t*>(s.address);
}

// unnamedSemInit(handle, byteOffset, value)
Napi::Value Init(const Napi::CallbackInfo& info) {
  SegmentSlice sem = Sem(info);
  Check(info.Env(), posix::SemInitShared(Ptr(sem), ArgUint32(info, 2, "value")));
  return info.Env().Undefined();
}

Napi::Value Destroy(const Napi::CallbackInfo& info) {
  SegmentSlice sem = Sem(info);
  Check(info.Env(), posix::SemDestroy(Ptr(sem)));
  return info.Env().Undefined();
}

Napi::Value Post(const Napi::CallbackInfo& info) {
  SegmentSlice sem = Sem(info);
  Check(info.Env(), posix::SemPost(Ptr(sem)));
  return info.Env().Undefined();
}

// unnamedSemTryWait(handle, byteOffset) -> acquired
Napi::Value TryWait(const Napi::CallbackInfo& info) {
  SegmentSlice sem = Sem(info);
  bool acquired = false;
  Check(info.Env(), posix::SemTryWait(Ptr(sem), &acquired));
  return Napi::Boolean::New(info.Env(), acquired);
}

Napi::Value GetValue(const Napi::CallbackInfo& info) {
  SegmentSlice sem = Sem(info);
  int value = 0;
  Check(info.Env(), posix::SemGetValue(Ptr(sem), &value));
  return Napi::Number::New(info.Env(), value);
}

// unnamedSemWaitSync(handle, byteOffset, timeoutMs) -> 0 acquired, 1 timed out.
Napi::Value WaitSync(const Napi::CallbackInfo& info) {
  SegmentSlice sem = Sem(info);
  int64_t deadline = posix::DeadlineAfterMs(ArgNumber(info, 2, "timeoutMs"));
  posix::WaitResult result;
  Check(info.Env(), posix::SemWaitUntil(Ptr(sem), deadline, nullptr, &result));
  return Napi::Number::New(info.Env(), int(result));
}

// unnamedSemWait(handle, byteOffset, timeoutMs, callback) -> wait handle.
// The wait thread owns a share of the mapping until it returns.
Napi::Value Wait(const Napi::CallbackInfo& info) {
  SegmentSlice sem = Sem(info);
  int64_t deadline = posix::DeadlineAfterMs(ArgNumber(info, 2, "timeoutMs"));
  Napi::Function callback = ArgFunction(info, 3, "callback");
  return StartWait(info.Env(), callback, [sem, deadline](const std::atomic<bool>& cancelled) {
    WaitOutcome out;
    posix::WaitResult result = posix::WaitResult::kCancelled;
    out.status = posix::SemWaitUntil(Ptr(sem), deadline, &cancelled, &result);
    out.result = int(result);
    return out;
  });
}

}  // namespace

void InitUnnamedSemaphore(Napi::Env env, Napi::Object exports) {
  exports.Set("unnamedSemSupported", Napi::Boolean::New(env, posix::kUnnamedSemaphores));
  exports.Set("unnamedSemBytes", Napi::Number::New(env, double(sizeof(sem_t))));
  exports.Set("unnamedSemAlignment", Napi::Number::New(env, double(alignof(sem_t))));
  exports.Set("unnamedSemInit", Napi::Function::New(env, Init, "unnamedSemInit"));
  exports.Set("unnamedSemDestroy", Napi::Function::New(env, Destroy, "unnamedSemDestroy"));
  exports.Set("unnamedSemPost", Napi::Function::New(env, Post, "unnamedSemPost"));
  exports.Set("unnamedSemTryWait", Napi::Function::New(env, TryWait, "unnamedSemTryWait"));
  exports.Set("unnamedSemGetValue", Napi::Function::New(env, GetValue, "unnamedSemGetValue"));
  exports.Set("unnamedSemWaitSync", Napi::Function::New(env, WaitSync, "unnamedSemWaitSync"));
  exports.Set("unnamedSemWait", Napi::Function::New(env, Wait, "unnamedSemWait"));
}

}  // namespace binding
