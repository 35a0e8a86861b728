#include "waiter.h"

#include <pthread.h>

#include <memory>
#include <mutex>
#include <set>

#include "errors.h"

namespace binding {

namespace {

struct Registry;

struct Wait {
  std::atomic<bool> cancelled{false};
  WaitWork work;
  WaitOutcome outcome;
  Napi::ThreadSafeFunction tsfn;
  // Shared with the environment: the thread may touch `tsfn` only while the
  // registry says the environment is alive, because Node frees thread-safe
  // functions during teardown.
  std::shared_ptr<Registry> registry;
};

// Pending waits of one environment (main thread or a worker), so that its
// teardown can cancel them instead of leaving threads waiting for ever.
struct Registry {
  std::mutex mu;
  std::set<std::shared_ptr<Wait>> pending;
  bool alive = true;  // false once the environment's teardown began
};

// Each environment (main thread, each worker) runs on its own thread, so its
// registry can be found through a thread-local.
thread_local std::shared_ptr<Registry>* tls_registry = nullptr;

// Runs at the start of environment teardown (process exit, worker
// termination), before Node frees the thread-safe functions: pending waits are
// told to stop (their threads exit within one slice) and, from now on, no
// thread delivers through its thread-safe function.
void CleanupRegistry(void* arg) {
  auto* holder = static_cast<std::shared_ptr<Registry>*>(arg);
  {
    std::lock_guard<std::mutex> lock((*holder)->mu);
    (*holder)->alive = false;
    for (auto& w : (*holder)->pending) w->cancelled.store(true);
    (*holder)->pending.clear();
  }
  if (tls_registry == holder) tls_registry = nullptr;
  delete holder;
}

void* ThreadMain(void* arg) {
  auto* holder = static_cast<std::shared_ptr<Wait>*>(arg);
  std::shared_ptr<Wait> wait = *holder;
  delete holder;
  wait->outcome = wait->work(wait->cancelled);
  wait->work = nullptr;  // drop captured resources (mappings, handles) promptly
  std::lock_guard<std::mutex> lock(wait->registry->mu);
  if (!wait->registry->alive) return nullptr;  // teardown: the tsfn may be freed
  auto* keep = new std::shared_ptr<Wait>(wait);
  napi_status st = wait->tsfn.NonBlockingCall(keep, [](Napi::Env env, Napi::Function cb, std::shared_ptr<Wait>* data) {
    std::shared_ptr<Wait> w = *data;
    delete data;
    if (env == nullptr) return;  // the environment is going away
    {
      std::lock_guard<std::mutex> lock(w->registry->mu);
      w->registry->pending.erase(w);
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
  if (tls_registry == nullptr) throw Napi::Error::New(env, "posix-ipc: the environment is shutting down");
  wait->registry = *tls_registry;
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
  {
    std::lock_guard<std::mutex> lock(wait->registry->mu);
    wait->registry->pending.insert(wait);
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
  tls_registry = new std::shared_ptr<Registry>(std::make_shared<Registry>());
  napi_add_env_cleanup_hook(env, CleanupRegistry, tls_registry);
  exports.Set("cancelWait", Napi::Function::New(env, CancelWait, "cancelWait"));
}

}  // namespace binding
