// Plain POSIX layer: no Node-API here. Every call reports failure as a Status
// carrying errno and the name of the syscall that failed, so the binding can
// build a Node-style SystemError without guessing.
#pragma once

#include <cerrno>

namespace posix {

struct Status {
  int err = 0;                    // errno value; 0 means success
  const char* syscall = nullptr;  // static string naming the failed call

  bool ok() const { return err == 0; }
  static Status Ok() { return {}; }
  static Status Fail(const char* name, int e = errno) { return {e, name}; }
};

// Calls `fn` until it does not fail with EINTR. Every blocking syscall in the
// posix layer goes through this (or through a deadline-aware loop) so that no
// call site can forget to retry after a signal handler ran.
template <typename Fn>
auto RetryEintr(Fn&& fn) -> decltype(fn()) {
  decltype(fn()) r;
  do {
    r = fn();
  } while (r == -1 && errno == EINTR);
  return r;
}

}  // namespace posix
