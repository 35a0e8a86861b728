// Module entry: registers every binding. The raw surface this exports is
// declared for TypeScript in lib/internal/native.ts.
#include <napi.h>

#include "modules.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  binding::InitWaiter(env, exports);
  binding::InitFd(env, exports);
  binding::InitPoller(env, exports);
  binding::InitProcess(env, exports);
  binding::InitSemaphore(env, exports);
  binding::InitSharedMemory(env, exports);
  binding::InitFutex(env, exports);
  binding::InitUnnamedSemaphore(env, exports);
  binding::InitTeardown(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(posix_ipc, Init)
