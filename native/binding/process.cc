// Binding for child processes (native/posix/process.cc): spawn, and the
// reaper that watches each child without blocking the event loop or holding a
// libuv pool thread.
//
// Reaping, per child, never waitpid(-1) and no SIGCHLD handler, so libuv's
// own children (node:child_process) are left alone:
// - Linux >= 5.3: a pidfd watched by a uv_poll_t on the environment's loop;
//   when it becomes readable, waitpid(pid, WNOHANG) on the loop thread.
// - Otherwise (macOS, no pidfd, or POSIX_IPC_NO_PIDFD=1 in the TS layer): a
//   small dedicated thread blocks in waitid(WNOWAIT), then reaps under the
//   child's mutex (so kill() never signals a recycled pid) and reports through
//   a thread-safe function.
#include "../posix/process.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <climits>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "errors.h"
#include "modules.h"

namespace binding {

namespace {

struct ChildState;

// One per environment (main thread, each worker).
struct ProcessEnv {
  std::mutex mu;
  bool alive = true;  // written on the loop thread under mu; read by waiter threads
  uv_loop_t* loop = nullptr;
  std::set<std::shared_ptr<ChildState>> pending;  // loop thread only
};

enum class Reaper { kPidfd, kThread };

struct ChildState : std::enable_shared_from_this<ChildState> {
  pid_t pid = 0;
  Reaper reaper = Reaper::kThread;
  napi_env env = nullptr;
  std::shared_ptr<ProcessEnv> penv;

  // Loop thread only.
  napi_ref on_exit = nullptr;  // released once JS knows, or at env teardown
  bool notified = false;       // JS has the status (exit callback, or waitSync)
  bool referenced = true;
  int pidfd = -1;                 // kPidfd
  uv_poll_t* poll = nullptr;      // kPidfd
  Napi::ThreadSafeFunction tsfn;  // kThread
  bool tsfn_live = false;         // until its delivery callback has run

  // The exit. Guarded by mu (the waiter thread writes it in kThread mode).
  std::mutex mu;
  std::condition_variable cv;
  bool reaped = false;
  int wstatus = 0;
  int wait_err = 0;  // errno of a failed wait: ECHILD when someone else reaped it

  ~ChildState() {
    if (pidfd >= 0) close(pidfd);
  }
};

using ChildHandle = std::shared_ptr<ChildState>;

std::shared_ptr<ChildState> HandleArg(const Napi::CallbackInfo& info) {
  Napi::Value v = info.Length() > 0 ? info[0] : info.Env().Undefined();
  if (!v.IsExternal()) throw Napi::TypeError::New(info.Env(), "The \"handle\" argument must be a child handle");
  return *v.As<Napi::External<ChildHandle>>().Data();
}

std::vector<std::string> ArgStrings(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = i < info.Length() ? info[i] : info.Env().Undefined();
  if (!v.IsArray())
    throw Napi::TypeError::New(info.Env(), std::string("The \"") + name + "\" argument must be an array");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t k = 0; k < a.Length(); k++) {
    Napi::Value e = a.Get(k);
    if (!e.IsString())
      throw Napi::TypeError::New(info.Env(), std::string("The \"") + name + "\" argument must hold strings");
    out.push_back(e.As<Napi::String>().Utf8Value());
    if (out.back().find('\0') != std::string::npos) {
      throw Napi::TypeError::New(info.Env(), std::string("The \"") + name + "\" argument must not contain null bytes");
    }
  }
  return out;
}

// Creates a thread with every signal blocked, so process-directed signals go
// to Node's own threads, and a small stack.
int StartThread(void* (*fn)(void*), void* arg) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 128 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, fn, arg);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return rc;
}

// After teardown nobody is left to tell; the child is still reaped so it
// does not stay a zombie in a process that goes on running.
void* ReapInBackgroundMain(void* arg) {
  pid_t pid = pid_t(reinterpret_cast<intptr_t>(arg));
  bool reaped = false;
  int ws = 0;
  posix::Reap(pid, true, &reaped, &ws);
  return nullptr;
}

void ReapInBackground(pid_t pid) {
  StartThread(ReapInBackgroundMain, reinterpret_cast<void*>(intptr_t(pid)));
}

void StopPidfd(ChildState& c) {
  if (c.poll != nullptr) {
    uv_poll_stop(c.poll);  // also removes the fd from libuv's epoll set
    uv_close(reinterpret_cast<uv_handle_t*>(c.poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    c.poll = nullptr;
  }
  if (c.pidfd >= 0) {
    close(c.pidfd);
    c.pidfd = -1;
  }
}

// The status as JS values: (err, code, signo); code -1 when killed by a signal.
void CallOnExit(napi_env raw_env, napi_ref ref, int wait_err, int wstatus) {
  Napi::Env env(raw_env);
  Napi::HandleScope scope(env);
  napi_value fn_value;
  if (napi_get_reference_value(raw_env, ref, &fn_value) != napi_ok || fn_value == nullptr) return;
  Napi::Function fn(raw_env, fn_value);
  Napi::Value err = env.Null();
  int code = -1, signo = 0;
  if (wait_err != 0)
    err = SystemError(env, posix::Status::Fail("waitpid", wait_err)).Value();
  else
    posix::DecodeWaitStatus(wstatus, &code, &signo);
  try {
    // MakeCallback: runs the microtasks the callback queues (promise reactions).
    fn.MakeCallback(env.Global(), {err, Napi::Number::New(env, code), Napi::Number::New(env, signo)});
  } catch (const Napi::Error& e) {
    napi_fatal_exception(raw_env, e.Value());
  }
}

// The child is reaped: tell JS once, release everything (loop thread).
void Finish(const std::shared_ptr<ChildState>& c) {
  if (!c->penv->alive) return;  // teardown already released it all
  StopPidfd(*c);
  napi_ref ref = c->on_exit;
  c->on_exit = nullptr;
  bool tell = !c->notified && ref != nullptr;
  c->notified = true;
  int wait_err, wstatus;
  {
    std::lock_guard<std::mutex> lock(c->mu);
    wait_err = c->wait_err;
    wstatus = c->wstatus;
  }
  c->penv->pending.erase(c);
  if (tell) CallOnExit(c->env, ref, wait_err, wstatus);
  if (ref != nullptr) napi_delete_reference(c->env, ref);
}

void* WaiterMain(void* arg);
void OnPidfdReadable(uv_poll_t* handle, int status, int events);

// kThread: a thread per child blocked in waitid; it reports through a tsfn
// whose reference keeps the loop alive while the child runs (unless unref'd).
posix::Status StartWaiterThread(Napi::Env env, const std::shared_ptr<ChildState>& c, Napi::Function on_exit) {
  c->tsfn = Napi::ThreadSafeFunction::New(env, on_exit, "posix-ipc:child", 0, 1);
  c->tsfn_live = true;
  c->reaper = Reaper::kThread;
  if (!c->referenced) c->tsfn.Unref(env);
  auto* arg = new std::shared_ptr<ChildState>(c);
  int rc = StartThread(WaiterMain, arg);
  if (rc != 0) {
    delete arg;
    c->tsfn.Release();
    c->tsfn_live = false;
    return posix::Status::Fail("pthread_create", rc);
  }
  return posix::Status::Ok();
}

void Deliver(Napi::Env env, Napi::Function, std::shared_ptr<ChildState>* data) {
  std::shared_ptr<ChildState> c = std::move(*data);
  delete data;
  if (env == nullptr) return;  // environment torn down with the call queued
  c->tsfn_live = false;        // released by the waiter; finalized after this call
  Finish(c);
}

void* WaiterMain(void* arg) {
  std::shared_ptr<ChildState> c = std::move(*static_cast<std::shared_ptr<ChildState>*>(arg));
  delete static_cast<std::shared_ptr<ChildState>*>(arg);

  // Wait without reaping, so the pid stays reserved (a zombie) until the reap
  // below, made under the mutex kill() takes: kill() can never signal a
  // recycled pid. Systems whose waitid lacks WNOWAIT reap directly.
  posix::Status s = posix::AwaitExitNoReap(c->pid);
  bool reaped = false;
  int ws = 0;
  if (!s.ok() && s.err == EINVAL) s = posix::Reap(c->pid, true, &reaped, &ws);
  {
    std::lock_guard<std::mutex> lock(c->mu);
    if (s.ok() && !reaped) {
      s = posix::Reap(c->pid, false, &reaped, &ws);
      if (s.ok() && !reaped) s = posix::Status::Fail("waitpid", ECHILD);
    }
    c->reaped = true;
    c->wstatus = ws;
    c->wait_err = s.err;
  }
  c->cv.notify_all();

  // After teardown the tsfn belongs to the dying environment: touch it only
  // while it is alive (teardown flips `alive` under the same mutex, before
  // Node frees thread-safe functions).
  std::lock_guard<std::mutex> lock(c->penv->mu);
  if (c->penv->alive) {
    auto* data = new std::shared_ptr<ChildState>(c);
    if (c->tsfn.NonBlockingCall(data, Deliver) != napi_ok) delete data;
    c->tsfn.Release();
  }
  return nullptr;
}

void OnPidfdReadable(uv_poll_t* handle, int status, int) {
  std::shared_ptr<ChildState> c = static_cast<ChildState*>(handle->data)->shared_from_this();
  bool reaped = false;
  int ws = 0;
  posix::Status s = posix::Reap(c->pid, false, &reaped, &ws);
  if (s.ok() && !reaped) {
    if (status >= 0) return;  // spurious: the pidfd turns readable only at exit
    // libuv stopped the watcher after a poll error: hand over to a thread.
    StopPidfd(*c);
    Napi::Env env(c->env);
    Napi::HandleScope scope(env);
    napi_value fn;
    napi_get_reference_value(c->env, c->on_exit, &fn);
    posix::Status t = StartWaiterThread(env, c, Napi::Function(c->env, fn));
    if (t.ok()) return;
    s = t;  // report it rather than wait forever
  }
  {
    std::lock_guard<std::mutex> lock(c->mu);
    c->reaped = true;
    c->wstatus = ws;
    c->wait_err = s.err;
  }
  Finish(c);
}

// spawnChild(file, candidates, argv, env, cwd, fdMap, usePidfd, onExit)
//   -> [handle, pid]
// fdMap is flat: [childFd, parentFd, ...]. onExit(err, code, signo) is called
// once on the loop thread, unless waitSync() got the status first.
Napi::Value SpawnChild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* penv = static_cast<std::shared_ptr<ProcessEnv>*>(info.Data());
  std::string file = ArgString(info, 0, "file");
  posix::SpawnSpec spec;
  spec.candidates = ArgStrings(info, 1, "candidates");
  spec.argv = ArgStrings(info, 2, "argv");
  spec.env = ArgStrings(info, 3, "env");
  spec.cwd = ArgString(info, 4, "cwd");
  Napi::Value map_value = info.Length() > 5 ? info[5] : env.Undefined();
  if (!map_value.IsArray()) throw Napi::TypeError::New(env, "The \"fdMap\" argument must be an array");
  Napi::Array map = map_value.As<Napi::Array>();
  if (map.Length() % 2 != 0) throw Napi::RangeError::New(env, "The \"fdMap\" argument must hold pairs");
  for (uint32_t k = 0; k + 1 < map.Length(); k += 2) {
    Napi::Value t = map.Get(k), s = map.Get(k + 1);
    if (!t.IsNumber() || !s.IsNumber()) throw Napi::TypeError::New(env, "The \"fdMap\" argument must hold numbers");
    // Int32Value() wraps modulo 2^32 (4294967297 would become fd 1): refuse
    // anything that is not exactly a descriptor number.
    auto fd = [&](Napi::Value v) {
      double d = v.As<Napi::Number>().DoubleValue();
      if (!(d >= 0 && d <= double(INT32_MAX)) || d != std::trunc(d)) {
        throw Napi::RangeError::New(env, "The \"fdMap\" argument must hold descriptor numbers (integers >= 0)");
      }
      return int(d);
    };
    spec.fds.emplace_back(fd(t), fd(s));
  }
  bool use_pidfd = ArgBool(info, 6, "usePidfd");
  Napi::Function on_exit = ArgFunction(info, 7, "onExit");

  pid_t pid = 0;
  posix::Status st = posix::Spawn(spec, &pid);
  if (!st.ok()) {
    const char* path = nullptr;
    if (std::string(st.syscall) == "execve")
      path = file.c_str();
    else if (std::string(st.syscall) == "chdir")
      path = spec.cwd.c_str();
    throw SystemError(env, st, path);
  }

  auto c = std::make_shared<ChildState>();
  c->pid = pid;
  c->env = env;
  c->penv = *penv;
  napi_create_reference(env, on_exit, 1, &c->on_exit);

  bool watching = false;
  int fd = -1;
  if (use_pidfd && posix::PidfdOpen(pid, &fd).ok()) {
    auto* poll = new uv_poll_t;
    if (uv_poll_init((*penv)->loop, poll, fd) == 0) {
      poll->data = c.get();
      c->poll = poll;
      c->pidfd = fd;
      c->reaper = Reaper::kPidfd;
      if (uv_poll_start(poll, UV_READABLE, OnPidfdReadable) == 0)
        watching = true;
      else
        StopPidfd(*c);
    } else {
      delete poll;
      close(fd);
    }
  }
  if (!watching) {
    posix::Status t = StartWaiterThread(env, c, on_exit);
    if (!t.ok()) {
      // Nobody could reap it later: do not leave an unwatched child behind.
      bool delivered = false;
      posix::Kill(pid, SIGKILL, &delivered);
      bool reaped = false;
      int ws = 0;
      posix::Reap(pid, true, &reaped, &ws);
      napi_delete_reference(env, c->on_exit);
      c->on_exit = nullptr;
      throw SystemError(env, t);
    }
  }
  (*penv)->pending.insert(c);

  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::External<ChildHandle>::New(env, new ChildHandle(c), [](Napi::Env, ChildHandle* h) { delete h; }));
  out.Set(1u, Napi::Number::New(env, pid));
  return out;
}

// childKill(handle, signo) -> false once the child has been reaped (the OS is
// then not asked: its pid may belong to another process) or on ESRCH.
Napi::Value ChildKill(const Napi::CallbackInfo& info) {
  std::shared_ptr<ChildState> c = HandleArg(info);
  int signo = ArgInt32(info, 1, "signal");
  std::lock_guard<std::mutex> lock(c->mu);
  if (c->reaped) return Napi::Boolean::New(info.Env(), false);
  bool delivered = false;
  Check(info.Env(), posix::Kill(c->pid, signo, &delivered));
  return Napi::Boolean::New(info.Env(), delivered);
}

// childWaitSync(handle) -> [code, signo]: blocks the calling thread until the
// child exits. The exit callback is not called afterwards.
Napi::Value ChildWaitSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<ChildState> c = HandleArg(info);
  int wait_err = 0, wstatus = 0;
  if (c->reaper == Reaper::kPidfd) {
    bool known;
    {
      std::lock_guard<std::mutex> lock(c->mu);
      known = c->reaped;
    }
    if (!known) {
      bool reaped = false;
      int ws = 0;
      posix::Status s = posix::Reap(c->pid, true, &reaped, &ws);
      std::lock_guard<std::mutex> lock(c->mu);
      c->reaped = true;
      c->wstatus = ws;
      c->wait_err = s.ok() ? 0 : s.err;
    }
    c->notified = true;
    Finish(c);  // stops the watcher and releases the callback, without calling it
  } else {
    std::unique_lock<std::mutex> lock(c->mu);
    c->cv.wait(lock, [&] { return c->reaped; });
    c->notified = true;  // the pending delivery only cleans up
  }
  {
    std::lock_guard<std::mutex> lock(c->mu);
    wait_err = c->wait_err;
    wstatus = c->wstatus;
  }
  Check(env, posix::Status{wait_err, "waitpid"});
  int code = -1, signo = 0;
  posix::DecodeWaitStatus(wstatus, &code, &signo);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, code));
  out.Set(1u, Napi::Number::New(env, signo));
  return out;
}

// childSetRef(handle, on): whether the pending exit keeps the loop alive.
Napi::Value ChildSetRef(const Napi::CallbackInfo& info) {
  std::shared_ptr<ChildState> c = HandleArg(info);
  bool on = ArgBool(info, 1, "on");
  c->referenced = on;
  if (c->poll != nullptr) {
    if (on)
      uv_ref(reinterpret_cast<uv_handle_t*>(c->poll));
    else
      uv_unref(reinterpret_cast<uv_handle_t*>(c->poll));
  } else if (c->tsfn_live) {
    if (on)
      c->tsfn.Ref(info.Env());
    else
      c->tsfn.Unref(info.Env());
  }
  return info.Env().Undefined();
}

// Environment teardown (process exit, worker termination). Children keep
// running; pidfds and poll handles are closed now, and each child is still
// reaped when it exits (kPidfd: by a detached thread started here; kThread:
// by its waiter thread, which then finds the environment gone).
void Teardown(void* arg) {
  auto* holder = static_cast<std::shared_ptr<ProcessEnv>*>(arg);
  std::shared_ptr<ProcessEnv> penv = std::move(*holder);
  delete holder;
  {
    std::lock_guard<std::mutex> lock(penv->mu);
    penv->alive = false;
  }
  for (const auto& c : penv->pending) {
    if (c->on_exit != nullptr) {
      napi_delete_reference(c->env, c->on_exit);
      c->on_exit = nullptr;
    }
    if (c->reaper == Reaper::kPidfd) {
      StopPidfd(*c);
      bool reaped;
      {
        std::lock_guard<std::mutex> lock(c->mu);
        reaped = c->reaped;
      }
      if (!reaped) ReapInBackground(c->pid);
    }
  }
  penv->pending.clear();
}

// Reaper threads and uv close callbacks may outlive a worker's environment,
// and Node dlclose()s an addon when the last environment using it goes: the
// code they run must stay mapped. Reopening ourselves with RTLD_NODELETE pins
// the library for the life of the process.
void PinAddon() {
  static std::once_flag once;
  std::call_once(once, [] {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&PinAddon), &info) != 0 && info.dli_fname != nullptr) {
      dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE);  // never closed, on purpose
    }
  });
}

}  // namespace

void InitProcess(Napi::Env env, Napi::Object exports) {
  PinAddon();
  auto penv = std::make_shared<ProcessEnv>();
  if (napi_get_uv_event_loop(env, &penv->loop) != napi_ok) {
    throw Napi::Error::New(env, "posix-ipc: no libuv loop for this environment");
  }
  // Lives until teardown; the spawn function's data points at it.
  auto* holder = new std::shared_ptr<ProcessEnv>(penv);
  napi_add_env_cleanup_hook(env, Teardown, holder);
  exports.Set("spawnChild", Napi::Function::New(env, SpawnChild, "spawnChild", holder));
  exports.Set("childKill", Napi::Function::New(env, ChildKill, "childKill"));
  exports.Set("childWaitSync", Napi::Function::New(env, ChildWaitSync, "childWaitSync"));
  exports.Set("childSetRef", Napi::Function::New(env, ChildSetRef, "childSetRef"));
}

}  // namespace binding
