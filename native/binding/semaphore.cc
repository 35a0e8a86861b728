// Placeholder: filled in by the semaphore work.
#include "modules.h"

namespace binding {

void InitSemaphore(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace binding
