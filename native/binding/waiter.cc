#include "waiter.h"

#include <pthread.h>

#include <memory>
#include <mutex>
#include <set>

#include "errors.h"

namespace binding {

namespace {

struct Wait {
  std::atomic<bool> cancelled{false};
  WaitWork work;
  WaitOutcome outcome;
  Napi::ThreadSafeFunction tsfn;
};

// Pending waits of one environment (main thread or a worker), so that its
// teardown can cancel them instead of leaving threads waiting for ever.
struct Registry {
  std::mutex mu;
  std::set<std::shared_ptr<Wait>> pending;
};

// Runs at environment teardown (process exit, worker termination): pending
// waits are told to stop; their threads exit within one wait slice. Threads
// never touch the registry (only the loop-thread callback does, and it cannot
// run after teardown), so it can be freed here.
void FinalizeRegistry(Napi::Env, Registry* registry) {
  {
    std::lock_guard<std::mutex> lock(registry->mu);
    for (auto& w : registry->pending) w->cancelled.store(true);
  }
  delete registry;
}

Registry* GetRegistry(Napi::Env env) {
  auto* registry = env.GetInstanceData<Registry>();
  return registry;
}

void* ThreadMain(void* arg) {
  auto* holder = static_cast<std::shared_ptr<Wait>*>(arg);
  std::shared_ptr<Wait> wait = *holder;
  delete holder;
  wait->outcome = wait->work(wait->cancelled);
  wait->work = nullptr;  // drop captured resources (mappings, handles) promptly
  auto* keep = new std::shared_ptr<Wait>(wait);
  napi_status st = wait->tsfn.BlockingCall(keep, [](Napi::Env env, Napi::Function cb, std::shared_ptr<Wait>* data) {
    std::shared_ptr<Wait> w = *data;
    delete data;
    if (env == nullptr) return;  // the environment is going away
    if (Registry* registry = GetRegistry(env)) {
      std::lock_guard<std::mutex> lock(registry->mu);
      registry->pending.erase(w);
    }
    if (cb.IsEmpty()) return;
    Napi::Value err = env.Null();
    if (!w->outcome.status.ok()) err = SystemError(env, w->outcome.status).Value();
    cb.Call({err, Napi::Number::New(env, w->outcome.result)});
  });
  if (st != napi_ok) delete keep;  // environment closing: nobody to tell
  wait->tsfn.Release();
  return nullptr;
}

}  // namespace

Napi::Value StartWait(Napi::Env env, Napi::Function callback, WaitWork work) {
  auto wait = std::make_shared<Wait>();
  wait->work = std::move(work);
  wait->tsfn = Napi::ThreadSafeFunction::New(env, callback, "posix-ipc:wait", 0, 1);

  // Small stacks: a thousand pending waits must not reserve gigabytes.
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  auto* arg = new std::shared_ptr<Wait>(wait);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, ThreadMain, arg);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete arg;
    wait->tsfn.Release();
    throw SystemError(env, posix::Status::Fail("pthread_create", rc));
  }
  if (Registry* registry = GetRegistry(env)) {
    std::lock_guard<std::mutex> lock(registry->mu);
    registry->pending.insert(wait);
  }
  // The handle holds a weak reference: cancelling a finished wait is a no-op.
  auto* weak = new std::weak_ptr<Wait>(wait);
  return Napi::External<std::weak_ptr<Wait>>::New(env, weak, [](Napi::Env, std::weak_ptr<Wait>* p) { delete p; });
}

Napi::Value CancelWait(const Napi::CallbackInfo& info) {
  Napi::Value v = info.Length() > 0 ? info[0] : info.Env().Undefined();
  if (!v.IsExternal()) throw Napi::TypeError::New(info.Env(), "The \"handle\" argument must be a wait handle");
  auto* weak = v.As<Napi::External<std::weak_ptr<Wait>>>().Data();
  if (auto wait = weak->lock()) wait->cancelled.store(true);
  return info.Env().Undefined();
}

void InitWaiter(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<Registry, FinalizeRegistry>(new Registry());
  exports.Set("cancelWait", Napi::Function::New(env, CancelWait, "cancelWait"));
}

}  // namespace binding
