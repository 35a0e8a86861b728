// Placeholder: filled in by the shared_memory work.
#include "modules.h"

namespace binding {

void InitSharedMemory(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace binding
