// Shared-memory segments as seen by other bindings (futex, in-segment
// semaphores): they address memory inside a segment only through
// ResolveSlice, which checks bounds and alignment and keeps the mapping
// alive for as long as the address is used.
#pragma once

#include <napi.h>

#include <cstddef>
#include <memory>

namespace binding {

// One MAP_SHARED mapping, unmapped when its last owner lets go. Owners: the
// segment while open, the finalizer of the ArrayBuffer over it, and any
// operation (a wait thread) holding a SegmentSlice.
class Mapping {
 public:
  Mapping(void* addr, size_t size) : addr_(addr), size_(size) {}
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  void* addr() const { return addr_; }
  size_t size() const { return size_; }

 private:
  void* addr_;
  size_t size_;
};

// An address inside a mapping, and the ownership that keeps it mapped.
struct SegmentSlice {
  void* address = nullptr;
  std::shared_ptr<const void> keepalive;
};

// Resolves `length` bytes at `byte_offset` in the segment behind `handle` (a
// handle from shmOpen). Throws TypeError for anything else, RangeError when
// the range is out of bounds or the offset not a multiple of `alignment`,
// and an ERR_POSIX_IPC_CLOSED error once the segment is closed.
SegmentSlice ResolveSlice(Napi::Value handle, double byte_offset, size_t length, size_t alignment);

// The error for a call on a closed object, like lib/errors.ts closedError().
Napi::Error ClosedError(Napi::Env env, const char* what);

}  // namespace binding
