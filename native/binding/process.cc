// Placeholder: filled in by the process work.
#include "modules.h"

namespace binding {

void InitProcess(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace binding
