#include "waiter.h"

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <deque>
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
  Napi::FunctionReference callback;  // created and reset on the loop thread only
};

// One per environment (main thread, each worker): a pool of parked waiter
// threads and one thread-safe function through which every finished wait is
// delivered. Reusing both keeps a wait's cost to a queue push and a wake-up,
// instead of a thread and a libuv handle created and destroyed per wait.
struct Registry {
  std::mutex mu;
  std::condition_variable work_ready;
  std::deque<std::shared_ptr<Wait>> queue;  // started, not yet taken by a thread
  std::set<std::shared_ptr<Wait>> pending;  // started, not yet delivered
  int idle_threads = 0;
  bool alive = true;  // false once the environment's teardown began
  Napi::ThreadSafeFunction tsfn;
  size_t referenced = 0;  // loop thread only: pending waits keep the loop alive
};

// Threads park this long without work before they exit.
constexpr auto kIdleExit = std::chrono::seconds(10);

// Each environment runs on its own thread, so its registry can be found
// through a thread-local.
thread_local std::shared_ptr<Registry>* tls_registry = nullptr;

// Runs at the start of environment teardown (process exit, worker
// termination), before Node frees the thread-safe function: pending waits are
// told to stop (their threads finish within one slice), parked threads exit,
// and from now on no thread delivers anything.
void CleanupRegistry(void* arg) {
  auto* holder = static_cast<std::shared_ptr<Registry>*>(arg);
  {
    std::lock_guard<std::mutex> lock((*holder)->mu);
    (*holder)->alive = false;
    for (auto& w : (*holder)->pending) w->cancelled.store(true);
    (*holder)->queue.clear();
  }
  (*holder)->work_ready.notify_all();
  if (tls_registry == holder) tls_registry = nullptr;
  delete holder;
}

// On the loop thread: hands one finished wait to its JS callback.
void Deliver(Napi::Env env, Napi::Function, std::shared_ptr<Wait>* data) {
  std::shared_ptr<Wait> w = *data;
  delete data;
  if (env == nullptr || tls_registry == nullptr) return;  // the environment is going away
  Registry* registry = tls_registry->get();
  {
    std::lock_guard<std::mutex> lock(registry->mu);
    registry->pending.erase(w);
  }
  if (--registry->referenced == 0) registry->tsfn.Unref(env);
  Napi::FunctionReference cb = std::move(w->callback);
  if (cb.IsEmpty()) return;
  Napi::Value err = env.Null();
  if (!w->outcome.status.ok()) err = SystemError(env, w->outcome.status).Value();
  cb.Call({err, Napi::Number::New(env, w->outcome.result)});
}

void* ThreadMain(void* arg) {
  // Named so that tools (and tests) can tell posix-ipc's waiters apart.
#if defined(__APPLE__)
  pthread_setname_np("pipc-wait");
#elif defined(__linux__)
  pthread_setname_np(pthread_self(), "pipc-wait");
#endif
  auto* holder = static_cast<std::shared_ptr<Registry>*>(arg);
  std::shared_ptr<Registry> registry = *holder;
  delete holder;
  std::unique_lock<std::mutex> lock(registry->mu);
  for (;;) {
    registry->idle_threads++;
    bool woke =
        registry->work_ready.wait_for(lock, kIdleExit, [&] { return !registry->alive || !registry->queue.empty(); });
    registry->idle_threads--;
    if (!registry->alive || !woke) return nullptr;
    std::shared_ptr<Wait> wait = std::move(registry->queue.front());
    registry->queue.pop_front();
    lock.unlock();
    wait->outcome = wait->work(wait->cancelled);
    wait->work = nullptr;  // drop captured resources (mappings, handles) promptly
    lock.lock();
    // The thread-safe function may be touched only while the environment is
    // alive: Node frees it during teardown.
    if (!registry->alive) return nullptr;
    auto* data = new std::shared_ptr<Wait>(std::move(wait));
    if (registry->tsfn.NonBlockingCall(data, Deliver) != napi_ok) delete data;
  }
}

}  // namespace

Napi::Value StartWait(Napi::Env env, Napi::Function callback, WaitWork work) {
  if (tls_registry == nullptr) throw Napi::Error::New(env, "posix-ipc: the environment is shutting down");
  const std::shared_ptr<Registry>& registry = *tls_registry;
  auto wait = std::make_shared<Wait>();
  wait->work = std::move(work);
  wait->callback = Napi::Persistent(callback);
  bool need_thread;
  {
    std::lock_guard<std::mutex> lock(registry->mu);
    registry->pending.insert(wait);
    registry->queue.push_back(wait);
    // Every queued wait needs a thread of its own: a wait may block for long.
    need_thread = registry->idle_threads < static_cast<int>(registry->queue.size());
  }
  if (need_thread) {
    // Small stacks: a thousand pending waits must not reserve gigabytes.
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    auto* arg = new std::shared_ptr<Registry>(registry);
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, ThreadMain, arg);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      delete arg;
      std::lock_guard<std::mutex> lock(registry->mu);
      registry->pending.erase(wait);
      for (auto it = registry->queue.begin(); it != registry->queue.end(); ++it) {
        if (*it == wait) {
          registry->queue.erase(it);
          break;
        }
      }
      throw SystemError(env, posix::Status::Fail("pthread_create", rc));
    }
  } else {
    registry->work_ready.notify_one();
  }
  if (registry->referenced++ == 0) registry->tsfn.Ref(env);
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
  auto registry = std::make_shared<Registry>();
  // The function itself is never called: Deliver calls each wait's own callback.
  registry->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                                 "posix-ipc:waits", 0, 1);
  registry->tsfn.Unref(env);  // an idle pool keeps nothing alive
  tls_registry = new std::shared_ptr<Registry>(std::move(registry));
  napi_add_env_cleanup_hook(env, CleanupRegistry, tls_registry);
  exports.Set("cancelWait", Napi::Function::New(env, CancelWait, "cancelWait"));
}

}  // namespace binding
