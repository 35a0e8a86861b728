// Binding for named POSIX semaphores (native/posix/semaphore.cc).
//
// JS: new NamedSemaphore(name, create, mode, initialValue) opens one; the
// wrapped object owns the sem_t* through a shared_ptr that every pending
// async wait also holds, so sem_close runs only after the last wait thread
// let go of it, whatever order close(), cancellation and GC happen in.
#include "../posix/semaphore.h"

#include <memory>
#include <string>

#include "../posix/clock.h"
#include "errors.h"
#include "modules.h"
#include "waiter.h"

namespace binding {

namespace {

// Owns one sem_open() reference; sem_close runs when the last owner (the JS
// object or a wait thread) drops it.
class SemRef {
 public:
  explicit SemRef(sem_t* sem) : sem_(sem) {}
  ~SemRef() { posix::SemCloseNamed(sem_); }
  SemRef(const SemRef&) = delete;
  SemRef& operator=(const SemRef&) = delete;
  sem_t* get() const { return sem_; }

 private:
  sem_t* const sem_;
};

class NamedSemaphore : public Napi::ObjectWrap<NamedSemaphore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NamedSemaphore",
                       {
                           InstanceMethod<&NamedSemaphore::Post>("post"),
                           InstanceMethod<&NamedSemaphore::TryWait>("tryWait"),
                           InstanceMethod<&NamedSemaphore::WaitSync>("waitSync"),
                           InstanceMethod<&NamedSemaphore::StartWaitJs>("startWait"),
                           InstanceMethod<&NamedSemaphore::GetValue>("getValue"),
                           InstanceMethod<&NamedSemaphore::Close>("close"),
                       });
  }

  // new NamedSemaphore(name, create, mode, initialValue): create = true is
  // O_CREAT | O_EXCL with an exact mode; false opens an existing one (mode
  // and initialValue are then ignored).
  explicit NamedSemaphore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NamedSemaphore>(info) {
    std::string name = ArgString(info, 0, "name");
    bool create = ArgBool(info, 1, "create");
    uint32_t mode = ArgUint32(info, 2, "mode");
    uint32_t value = ArgUint32(info, 3, "initialValue");
    if (mode > 07777) throw Napi::RangeError::New(info.Env(), "The \"mode\" argument must be <= 0o7777");
    if (value > posix::kSemValueMax) {
      throw Napi::RangeError::New(info.Env(), "The \"initialValue\" argument must be <= SEM_VALUE_MAX");
    }
    sem_t* sem = nullptr;
    Check(info.Env(),
          create ? posix::SemCreateNamed(name.c_str(), mode, value, &sem) : posix::SemOpenNamed(name.c_str(), &sem),
          name.c_str());
    ref_ = std::make_shared<SemRef>(sem);
  }

 private:
  // The native backstop for use after close(); the TypeScript layer checks
  // first and throws its own closedError.
  sem_t* Sem(Napi::Env env) const {
    if (!ref_) {
      Napi::Error err = Napi::Error::New(env, "Semaphore is closed");
      err.Set("code", Napi::String::New(env, "ERR_POSIX_IPC_CLOSED"));
      throw err;
    }
    return ref_->get();
  }

  Napi::Value Post(const Napi::CallbackInfo& info) {
    Check(info.Env(), posix::SemPost(Sem(info.Env())));
    return info.Env().Undefined();
  }

  // tryWait() -> true when acquired, false when the count was 0.
  Napi::Value TryWait(const Napi::CallbackInfo& info) {
    bool acquired = false;
    Check(info.Env(), posix::SemTryWait(Sem(info.Env()), &acquired));
    return Napi::Boolean::New(info.Env(), acquired);
  }

  // waitSync(timeoutMs) -> true when acquired, false on timeout. Blocks the
  // calling thread; Infinity waits for ever.
  Napi::Value WaitSync(const Napi::CallbackInfo& info) {
    int64_t deadline = posix::DeadlineAfterMs(ArgNumber(info, 0, "timeoutMs"));
    posix::WaitResult result = posix::WaitResult::kTimedOut;
    Check(info.Env(), posix::SemWaitUntil(Sem(info.Env()), deadline, nullptr, &result));
    return Napi::Boolean::New(info.Env(), result == posix::WaitResult::kAcquired);
  }

  // startWait(timeoutMs, callback) -> wait handle. The wait runs on its own
  // thread (waiter.h); callback(err, WaitResult) on the loop thread. The
  // deadline is taken now, so time spent starting the thread counts.
  Napi::Value StartWaitJs(const Napi::CallbackInfo& info) {
    int64_t deadline = posix::DeadlineAfterMs(ArgNumber(info, 0, "timeoutMs"));
    Napi::Function callback = ArgFunction(info, 1, "callback");
    Sem(info.Env());
    std::shared_ptr<SemRef> ref = ref_;
    return StartWait(info.Env(), callback, [ref, deadline](const std::atomic<bool>& cancelled) {
      WaitOutcome out;
      posix::WaitResult result = posix::WaitResult::kCancelled;
      out.status = posix::SemWaitUntil(ref->get(), deadline, &cancelled, &result);
      out.result = int(result);
      return out;
    });
  }

  // ENOSYS on macOS.
  Napi::Value GetValue(const Napi::CallbackInfo& info) {
    int value = 0;
    Check(info.Env(), posix::SemGetValue(Sem(info.Env()), &value));
    return Napi::Number::New(info.Env(), value);
  }

  // Idempotent. Pending waits keep their own reference; the TypeScript layer
  // cancels them first, so sem_close follows within one wait slice.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    ref_.reset();
    return info.Env().Undefined();
  }

  // The garbage collector dropping the object (the destructor) releases
  // ref_ too: a backstop only, and it never unlinks the name.
  std::shared_ptr<SemRef> ref_;
};

Napi::Value SemUnlink(const Napi::CallbackInfo& info) {
  std::string name = ArgString(info, 0, "name");
  Check(info.Env(), posix::SemUnlinkNamed(name.c_str()), name.c_str());
  return info.Env().Undefined();
}

}  // namespace

void InitSemaphore(Napi::Env env, Napi::Object exports) {
  exports.Set("NamedSemaphore", NamedSemaphore::Define(env));
  exports.Set("semUnlink", Napi::Function::New(env, SemUnlink, "semUnlink"));
  exports.Set("SEM_VALUE_MAX", Napi::Number::New(env, double(posix::kSemValueMax)));
}

}  // namespace binding
