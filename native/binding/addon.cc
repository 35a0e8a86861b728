// Module entry: registers every binding. The raw surface this exports is
// declared for TypeScript in lib/internal/native.ts.
#include <napi.h>

#include "modules.h"

#if defined(__SANITIZE_ADDRESS__)
#define POSIX_IPC_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POSIX_IPC_LSAN 1
#endif
#endif
#if defined(POSIX_IPC_LSAN)
#include <sanitizer/lsan_interface.h>
#endif

namespace {

#if defined(POSIX_IPC_LSAN)
// AddressSanitizer builds only (npm run test:asan): LeakSanitizer's check on
// demand, since test workers are killed before the one at exit can finish.
// Reports go where ASAN_OPTIONS says; returns true when it found leaks.
Napi::Value SanitizerLeakCheck(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), __lsan_do_recoverable_leak_check() != 0);
}
#endif

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // First: Node runs cleanup hooks in reverse order of registration, and
  // teardown.cc's closes the descriptors other hooks (poller.cc) must let go of.
  binding::InitTeardown(env, exports);
  binding::InitWaiter(env, exports);
  binding::InitFd(env, exports);
  binding::InitPoller(env, exports);
  binding::InitSocket(env, exports);
  binding::InitTcp(env, exports);
  binding::InitProcess(env, exports);
  binding::InitSemaphore(env, exports);
  binding::InitShm(env, exports);
  binding::InitFutex(env, exports);
  binding::InitUnnamedSemaphore(env, exports);
#if defined(POSIX_IPC_LSAN)
  exports.Set("sanitizerLeakCheck", Napi::Function::New(env, SanitizerLeakCheck, "sanitizerLeakCheck"));
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(posix_ipc, Init)
