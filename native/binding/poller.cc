// FdPoller: readiness of one descriptor from the event loop (uv_poll_t), for
// the message-passing channels that drive their own non-blocking fds. Reads
// and writes stay in JavaScript-owned buffers; only "ready" crosses here.
#include <uv.h>

#include <set>

#include "errors.h"
#include "modules.h"

namespace binding {

namespace {

constexpr int kReadable = 1;
constexpr int kWritable = 2;

class FdPoller;

// The pollers still open in an environment, closed at its teardown so that no
// handle outlives its loop. Each environment (main thread, each worker) runs
// on its own thread, so the set can live in a thread-local.
using PollerSet = std::set<FdPoller*>;
thread_local PollerSet* tls_pollers = nullptr;

class FdPoller : public Napi::ObjectWrap<FdPoller> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdPoller",
                       {InstanceMethod<&FdPoller::Start>("start"), InstanceMethod<&FdPoller::Stop>("stop"),
                        InstanceMethod<&FdPoller::Close>("close")});
  }

  // new FdPoller(fd, callback(err, events))
  explicit FdPoller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdPoller>(info) {
    Napi::Env env = info.Env();
    int fd = ArgInt32(info, 0, "fd");
    callback_ = Napi::Persistent(ArgFunction(info, 1, "callback"));
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw Napi::Error::New(env, "no event loop");
    handle_ = new uv_poll_t;
    int rc = uv_poll_init(loop, handle_, fd);
    if (rc != 0) {
      delete handle_;
      handle_ = nullptr;
      throw SystemError(env, posix::Status::Fail("uv_poll_init", -rc));
    }
    handle_->data = this;
    env_ = env;
    set_ = tls_pollers;
    if (set_ != nullptr) set_->insert(this);
  }

  ~FdPoller() override { CloseHandle(); }

  // Closes the libuv handle; safe to call more than once. The handle memory is
  // freed by libuv's close callback, after the loop no longer refers to it.
  void CloseHandle() {
    if (handle_ == nullptr) return;
    if (set_ != nullptr) set_->erase(this);
    handle_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    handle_ = nullptr;
  }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    int want = ArgInt32(info, 0, "events");
    int events = ((want & kReadable) ? UV_READABLE : 0) | ((want & kWritable) ? UV_WRITABLE : 0) | UV_DISCONNECT;
    int rc = uv_poll_start(handle_, events, OnPoll);
    if (rc != 0) throw SystemError(info.Env(), posix::Status::Fail("uv_poll_start", -rc));
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_poll_stop(handle_);
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseHandle();
    callback_.Reset();
    return info.Env().Undefined();
  }

  void CheckOpen(Napi::Env env) {
    if (handle_ == nullptr) throw Napi::Error::New(env, "FdPoller is closed");
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<FdPoller*>(handle->data);
    if (self == nullptr || self->callback_.IsEmpty()) return;
    Napi::Env env = self->env_;
    Napi::HandleScope scope(env);
    Napi::Value err = env.Null();
    if (status < 0) err = SystemError(env, posix::Status::Fail("poll", -status)).Value();
    int out = ((events & UV_READABLE) ? kReadable : 0) | ((events & UV_WRITABLE) ? kWritable : 0) |
              ((events & UV_DISCONNECT) ? kReadable : 0);
    // The wrapper is only weakly held: once collected, `this` is the global.
    Napi::Object recv = self->Value();
    try {
      // MakeCallback runs the microtask queue afterwards, so promises resolved
      // by the callback settle before the loop polls again.
      self->callback_.MakeCallback(recv.IsEmpty() ? env.Global() : recv, {err, Napi::Number::New(env, out)});
    } catch (const Napi::Error& e) {
      // A JS exception must not unwind through libuv (std::terminate, an
      // abort): Node gets it as an uncaught exception, as from its own
      // callbacks.
      napi_fatal_exception(env, e.Value());
    }
  }

  uv_poll_t* handle_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::Env env_ = nullptr;
  PollerSet* set_ = nullptr;
};

}  // namespace

void InitPoller(Napi::Env env, Napi::Object exports) {
  exports.Set("FdPoller", FdPoller::Define(env));
  // Closes the pollers still open when the environment is torn down (worker
  // exit). This hook runs before teardown.cc's, which closes the descriptors
  // they watched: no poll handle is left on a descriptor number already closed
  // (and maybe reused).
  tls_pollers = new PollerSet();
  napi_add_env_cleanup_hook(
      env,
      [](void* arg) {
        auto* set = static_cast<PollerSet*>(arg);
        for (FdPoller* p : PollerSet(*set)) p->CloseHandle();
        if (tls_pollers == set) tls_pollers = nullptr;
        delete set;
      },
      tls_pollers);
}

}  // namespace binding
