#include "process.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstring>

#include "fd.h"

#if defined(__linux__)
// Numbers are shared by every architecture since Linux 5.1's unified table;
// defined here so that older kernel headers still build.
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#endif

namespace posix {

namespace {

// The step of the child's set-up that failed, sent to the parent with errno.
enum Stage : int { kStageFcntl = 1, kStageDup2 = 2, kStageChdir = 3, kStageExec = 4 };

const char* StageName(int stage) {
  switch (stage) {
    case kStageFcntl:
      return "fcntl";
    case kStageDup2:
      return "dup2";
    case kStageChdir:
      return "chdir";
    case kStageExec:
      return "execve";
    default:
      return "spawn";
  }
}

struct ErrorReport {
  int err;
  int stage;
};

// Everything the child needs, built by the parent before fork: after fork the
// child of a multi-threaded process may only read memory and make
// async-signal-safe calls (no malloc, no locks, no C++ library).
struct Prepared {
  std::vector<char*> candidates;  // null-terminated
  std::vector<char*> argv;        // null-terminated
  std::vector<char*> envp;        // null-terminated
  const char* cwd = nullptr;
  std::vector<int> targets;  // child fd of map entry i
  std::vector<int> sources;  // parent fd of map entry i
  std::vector<int> scratch;  // the child's temporary copies of the sources
  std::vector<int> keep;     // sorted targets, then a slot for the error pipe
  int min_free = 0;          // above every target
  long max_fd = 0;           // bound of the last-resort close loop
};

[[noreturn]] void ChildFail(int errfd, int stage, int err) {
  ErrorReport report{err, stage};
  // 8 bytes < PIPE_BUF: written atomically or not at all.
  RetryEintr([&] { return write(errfd, &report, sizeof report); });
  _exit(127);
}

bool Kept(const int* keep, size_t n, int fd) {
  size_t lo = 0, hi = n;  // binary search, by hand: nothing fancy after fork
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (keep[mid] == fd) return true;
    if (keep[mid] < fd)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

bool CloseRange(unsigned lo, unsigned hi) {
#if defined(__linux__)
  return syscall(SYS_close_range, lo, hi, 0) == 0;
#else
  (void)lo;
  (void)hi;
  return false;
#endif
}

#if defined(__linux__)
// Linux < 5.9: walk /proc/self/fd with raw getdents64 into a stack buffer
// (opendir would allocate). Repeats until a pass closes nothing, as glibc's
// closefrom fallback does.
bool CloseFromProc(const int* keep, size_t n) {
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir == -1) return false;
  alignas(dirent64) char buf[2048];
  for (bool closed_any = true; closed_any;) {
    closed_any = false;
    if (lseek(dir, 0, SEEK_SET) == -1) break;
    for (;;) {
      long got = syscall(SYS_getdents64, dir, buf, sizeof buf);
      if (got <= 0) break;
      for (long off = 0; off < got;) {
        const auto* entry = reinterpret_cast<const dirent64*>(buf + off);
        off += entry->d_reclen;
        const char* name = entry->d_name;
        if (name[0] < '0' || name[0] > '9') continue;  // "." and ".."
        int fd = 0;
        for (; *name >= '0' && *name <= '9'; name++) fd = fd * 10 + (*name - '0');
        if (fd == dir || Kept(keep, n, fd)) continue;
        close(fd);
        closed_any = true;
      }
    }
  }
  close(dir);
  return true;
}
#endif

// Closes every descriptor not in `keep` (sorted ascending).
void CloseAllExcept(const int* keep, size_t n, long max_fd) {
  unsigned lo = 0;
  bool ok = true;
  for (size_t i = 0; i < n && ok; i++) {
    unsigned k = unsigned(keep[i]);
    if (k > lo) ok = CloseRange(lo, k - 1);
    lo = k + 1;
  }
  if (ok && CloseRange(lo, ~0U)) return;
#if defined(__linux__)
  if (CloseFromProc(keep, n)) return;
#endif
  for (long fd = 0; fd < max_fd; fd++) {
    if (!Kept(keep, n, int(fd))) close(int(fd));
  }
}

// Errors execvp moves past to the next PATH entry.
bool TryNextCandidate(int err) {
  return err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV || err == ETIMEDOUT;
}

[[noreturn]] void RunChild(Prepared& p, int errfd) {
  // Dispositions first, with every signal still blocked: a handler of the
  // parent must never run in this half-made process. Node ignores SIGPIPE and
  // ignored signals survive exec, hence the explicit reset. Failures (SIGKILL,
  // SIGSTOP, libc-reserved signals) are harmless.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, nullptr);

  // Lift the error pipe and every source above the highest target, then dup2
  // into place: a cyclic or overlapping map ({3:4, 4:3}) cannot overwrite a
  // source before it is copied, and dup2 leaves the new fds without FD_CLOEXEC.
  int err_hi = fcntl(errfd, F_DUPFD_CLOEXEC, p.min_free);
  if (err_hi == -1) ChildFail(errfd, kStageFcntl, errno);
  errfd = err_hi;
  const size_t n = p.targets.size();
  for (size_t i = 0; i < n; i++) {
    p.scratch[i] = fcntl(p.sources[i], F_DUPFD_CLOEXEC, p.min_free);
    if (p.scratch[i] == -1) ChildFail(errfd, kStageFcntl, errno);
  }
  for (size_t i = 0; i < n; i++) {
    if (RetryEintr([&] { return dup2(p.scratch[i], p.targets[i]); }) == -1) ChildFail(errfd, kStageDup2, errno);
  }
  p.keep[n] = errfd;  // above every target, so `keep` stays sorted
  CloseAllExcept(p.keep.data(), n + 1, p.max_fd);

  if (p.cwd != nullptr && chdir(p.cwd) == -1) ChildFail(errfd, kStageChdir, errno);

  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  // execvp's rules: move past missing entries; a permission error found on
  // the way wins over a later ENOENT; any other error stops the search.
  bool saw_eacces = false;
  int err = ENOENT;
  for (char* const* c = p.candidates.data(); *c != nullptr; c++) {
    execve(*c, p.argv.data(), p.envp.data());
    err = errno;
    if (err == EACCES) {
      saw_eacces = true;
    } else if (!TryNextCandidate(err)) {
      ChildFail(errfd, kStageExec, err);
    }
  }
  ChildFail(errfd, kStageExec, saw_eacces ? EACCES : err);
}

void ReapBlocking(pid_t pid) {
  RetryEintr([&] { return waitpid(pid, nullptr, 0); });
}

}  // namespace

Status Spawn(const SpawnSpec& spec, pid_t* out) {
  Prepared p;
  for (const auto& s : spec.candidates) p.candidates.push_back(const_cast<char*>(s.c_str()));
  p.candidates.push_back(nullptr);
  for (const auto& s : spec.argv) p.argv.push_back(const_cast<char*>(s.c_str()));
  p.argv.push_back(nullptr);
  for (const auto& s : spec.env) p.envp.push_back(const_cast<char*>(s.c_str()));
  p.envp.push_back(nullptr);
  if (!spec.cwd.empty()) p.cwd = spec.cwd.c_str();

  for (const auto& [target, source] : spec.fds) {
    if (target < 0 || source < 0) return Status::Fail("dup2", EBADF);
    // A closed parent fd is refused here, before any process exists.
    if (fcntl(source, F_GETFD) == -1) return Status::Fail("fcntl");
    p.targets.push_back(target);
    p.sources.push_back(source);
  }
  p.scratch.resize(p.targets.size());
  p.keep = p.targets;
  std::sort(p.keep.begin(), p.keep.end());
  if (std::adjacent_find(p.keep.begin(), p.keep.end()) != p.keep.end()) return Status::Fail("dup2", EINVAL);
  // The child copies sources above the highest target (F_DUPFD rejects INT_MAX
  // the same way: no room above it).
  if (!p.keep.empty() && p.keep.back() == INT_MAX) return Status::Fail("fcntl", EINVAL);
  p.min_free = p.keep.empty() ? 0 : p.keep.back() + 1;
  p.keep.push_back(-1);  // the child's error pipe goes here
  p.max_fd = sysconf(_SC_OPEN_MAX);
  if (p.max_fd <= 0 || p.max_fd > INT_MAX) p.max_fd = 1 << 16;
  p.max_fd = std::max<long>(p.max_fd, p.min_free);

  int errpipe[2];
  Status s = MakePipe(true, false, false, errpipe);
  if (!s.ok()) return s;

  // No signal handler may run in the child before its dispositions are reset.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) RunChild(p, errpipe[1]);
  int fork_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(errpipe[1]);
  if (pid == -1) {
    close(errpipe[0]);
    return Status::Fail("fork", fork_err);
  }

  // End-of-file (the write end closed by a successful exec) means started;
  // a report means the child failed and has exited with 127.
  ErrorReport report{0, 0};
  size_t got = 0;
  int read_err = 0;
  while (got < sizeof report) {
    ssize_t r =
        RetryEintr([&] { return read(errpipe[0], reinterpret_cast<char*>(&report) + got, sizeof report - got); });
    if (r == -1) read_err = errno;
    if (r <= 0) break;
    got += size_t(r);
  }
  close(errpipe[0]);
  if (got == 0 && read_err == 0) {
    *out = pid;
    return Status::Ok();
  }
  if (got == sizeof report) {
    ReapBlocking(pid);  // it is exiting already: bounded
    return Status::Fail(StageName(report.stage), report.err);
  }
  // Cannot tell what happened: leave no half-started child behind.
  kill(pid, SIGKILL);
  ReapBlocking(pid);
  return Status::Fail("read", read_err != 0 ? read_err : EIO);
}

Status PidfdOpen(pid_t pid, int* out) {
#if defined(__linux__)
  long fd = syscall(SYS_pidfd_open, pid, 0);  // always O_CLOEXEC
  if (fd == -1) return Status::Fail("pidfd_open");
  *out = int(fd);
  return Status::Ok();
#else
  (void)pid;
  (void)out;
  return Status::Fail("pidfd_open", ENOSYS);
#endif
}

Status Kill(pid_t pid, int signo, bool* delivered) {
  *delivered = true;
  if (kill(pid, signo) == -1) {
    if (errno == ESRCH) {
      *delivered = false;
      return Status::Ok();
    }
    return Status::Fail("kill");
  }
  return Status::Ok();
}

Status AwaitExitNoReap(pid_t pid) {
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  if (RetryEintr([&] { return waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT); }) == -1) {
    return Status::Fail("waitid");
  }
  return Status::Ok();
}

Status Reap(pid_t pid, bool block, bool* reaped, int* wstatus) {
  int st = 0;
  pid_t r = RetryEintr([&] { return waitpid(pid, &st, block ? 0 : WNOHANG); });
  if (r == -1) return Status::Fail("waitpid");
  *reaped = r == pid;
  if (*reaped) *wstatus = st;
  return Status::Ok();
}

void DecodeWaitStatus(int wstatus, int* code, int* signo) {
  *code = -1;
  *signo = 0;
  if (WIFEXITED(wstatus))
    *code = WEXITSTATUS(wstatus);
  else if (WIFSIGNALED(wstatus))
    *signo = WTERMSIG(wstatus);
}

}  // namespace posix
