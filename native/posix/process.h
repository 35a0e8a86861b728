// Child processes: fork + exec with an exact descriptor map, and the
// primitives to watch and reap one child by pid (never waitpid(-1), so other
// code in the process, such as libuv's child_process, keeps its own children).
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "status.h"

namespace posix {

struct SpawnSpec {
  // Paths handed to execve in turn (a PATH search resolved by the caller);
  // a single entry when the file name contains a '/'.
  std::vector<std::string> candidates;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "NAME=value"
  std::string cwd;               // empty: the parent's working directory
  // {child_fd, parent_fd}: the child gets exactly these descriptors (without
  // FD_CLOEXEC) and nothing else. Child fds must be distinct.
  std::vector<std::pair<int, int>> fds;
};

// Forks and execs. On success the child has exec'd (`*pid` is set); a failure
// in the child before exec comes back as its errno with the name of the step
// that failed: "chdir", "execve", "fcntl" or "dup2" (the child has then been
// reaped). Parent-side failures: "fcntl" (EBADF: a mapped parent fd is not
// open), "pipe2"/"pipe", "fork".
Status Spawn(const SpawnSpec& spec, pid_t* pid);

// pidfd_open(2) (Linux >= 5.3). The descriptor is close-on-exec and becomes
// readable when the child exits. ENOSYS on other systems.
Status PidfdOpen(pid_t pid, int* out);

// kill(2). `*delivered` is false on ESRCH (which is not an error).
Status Kill(pid_t pid, int signo, bool* delivered);

// Blocks until `pid` has exited without reaping it (waitid WNOWAIT), so the
// pid stays reserved (a zombie) until ReapNow(). EINTR is retried.
Status AwaitExitNoReap(pid_t pid);

// waitpid(pid, WNOHANG) or a blocking waitpid(pid). `*reaped` tells whether
// the child was collected; `*wstatus` is then its raw wait status.
Status Reap(pid_t pid, bool block, bool* reaped, int* wstatus);

// Splits a raw wait status: `*code` is the exit code (or -1), `*signo` the
// terminating signal (or 0).
void DecodeWaitStatus(int wstatus, int* code, int* signo);

}  // namespace posix
