#include "socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "fd.h"

namespace posix {

namespace {

// Linux (and the BSDs) set close-on-exec and non-blocking atomically, in
// socket(), socketpair() and accept4(). macOS has neither flag: PrepareFd sets
// them right after, with the race fd.h documents for pipes.
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
#define POSIX_IPC_ATOMIC_SOCK_FLAGS 1
constexpr int kSockCloexec = SOCK_CLOEXEC;
constexpr int kSockNonBlock = SOCK_NONBLOCK;
constexpr bool kLateFlags = false;
#else
constexpr int kSockCloexec = 0;
constexpr int kSockNonBlock = 0;
constexpr bool kLateFlags = true;
#endif

Status MakeAddress(const char* path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  size_t len = std::strlen(path);
  if (len == 0 || len >= sizeof addr->sun_path) return Status::Fail("bind", ENAMETOOLONG);
  std::memcpy(addr->sun_path, path, len);
  return Status::Ok();
}

}  // namespace

Status OpenStreamSocket(int domain, int* out) {
  int fd = socket(domain, SOCK_STREAM | kSockCloexec | kSockNonBlock, 0);
  if (fd == -1) return Status::Fail("socket");
  Status s = PrepareFd(fd, kLateFlags, kLateFlags);
  if (!s.ok()) {
    close(fd);
    return s;
  }
#if defined(SO_NOSIGPIPE)
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  *out = fd;
  return Status::Ok();
}

Status AcceptConnection(int listen_fd, int* out) {
  *out = -1;
#if defined(POSIX_IPC_ATOMIC_SOCK_FLAGS)
  int fd = RetryEintr([&] { return accept4(listen_fd, nullptr, nullptr, kSockCloexec | kSockNonBlock); });
#else
  int fd = RetryEintr([&] { return accept(listen_fd, nullptr, nullptr); });
#endif
  if (fd == -1) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) return Status::Ok();
    return Status::Fail("accept");
  }
  Status s = PrepareFd(fd, kLateFlags, kLateFlags);
  if (!s.ok()) {
    close(fd);
    return s;
  }
#if defined(SO_NOSIGPIPE)
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  *out = fd;
  return Status::Ok();
}

Status UnixListen(const char* path, int backlog, unsigned mode, int* out) {
  sockaddr_un addr;
  Status s = MakeAddress(path, &addr);
  if (!s.ok()) return s;
  int fd = -1;
  s = OpenStreamSocket(AF_UNIX, &fd);
  if (!s.ok()) return s;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == -1) {
    s = Status::Fail("bind");
    close(fd);
    return s;
  }
  if (chmod(path, mode_t(mode)) == -1) {
    s = Status::Fail("chmod");
  } else if (listen(fd, backlog) == -1) {
    s = Status::Fail("listen");
  }
  if (!s.ok()) {
    close(fd);
    unlink(path);
    return s;
  }
  *out = fd;
  return Status::Ok();
}

Status UnixAccept(int listen_fd, int* out) {
  return AcceptConnection(listen_fd, out);
}

Status UnixConnect(const char* path, int* out, bool* in_progress) {
  *in_progress = false;
  sockaddr_un addr;
  Status s = MakeAddress(path, &addr);
  if (!s.ok()) return Status::Fail("connect", s.err);
  int fd = -1;
  s = OpenStreamSocket(AF_UNIX, &fd);
  if (!s.ok()) return s;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == -1) {
    // EINTR on a non-blocking connect: the connection goes on asynchronously.
    // EAGAIN is not that: Linux answers it when the listener's backlog is
    // full and queues nothing, so the socket stays unconnected (and would poll
    // as writable at once). It is reported, and the caller tries again.
    if (errno == EINPROGRESS || errno == EINTR) {
      *in_progress = true;
    } else {
      s = Status::Fail("connect");
      close(fd);
      return s;
    }
  }
  *out = fd;
  return Status::Ok();
}

Status FinishConnect(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) return Status::Fail("getsockopt");
  if (err != 0) return Status::Fail("connect", err);
  return Status::Ok();
}

Status UnixSocketPair(int out[2]) {
  if (socketpair(AF_UNIX, SOCK_STREAM | kSockCloexec, 0, out) == -1) return Status::Fail("socketpair");
  Status s = PrepareFd(out[0], kLateFlags, false);
  if (s.ok()) s = PrepareFd(out[1], kLateFlags, false);
  if (!s.ok()) {
    close(out[0]);
    close(out[1]);
  }
  return s;
}

Status Shutdown(int fd, bool read_side, bool write_side) {
  int how = read_side && write_side ? SHUT_RDWR : read_side ? SHUT_RD : SHUT_WR;
  if (shutdown(fd, how) == -1) return Status::Fail("shutdown");
  return Status::Ok();
}

Status GetPeerCredentials(int fd, PeerCredentials* out) {
#if defined(__APPLE__)
  // getpeereid() is getsockopt(LOCAL_PEERCRED) underneath, hence the name.
  // It keeps answering after the peer closed; LOCAL_PEERPID does not (the
  // connection is gone), and pid stays -1 then.
  uid_t uid;
  gid_t gid;
  if (getpeereid(fd, &uid, &gid) == -1) return Status::Fail("getsockopt");
  pid_t pid = -1;
#if defined(LOCAL_PEERPID)
  socklen_t len = sizeof pid;
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) == -1) pid = -1;
#endif
  out->pid = pid;
  out->uid = uid;
  out->gid = gid;
  return Status::Ok();
#elif defined(SO_PEERCRED)
  // Linux records the listener's own credentials at listen() and answers a
  // socket that was never connected without an error (no credentials: uid
  // -1): both are ENOTCONN here, as on macOS.
  int listening = 0;
  socklen_t len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == -1) return Status::Fail("getsockopt");
  if (listening) return Status::Fail("getsockopt", ENOTCONN);
  ucred cred;
  len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) return Status::Fail("getsockopt");
  if (cred.uid == uid_t(-1)) return Status::Fail("getsockopt", ENOTCONN);
  out->pid = cred.pid;
  out->uid = cred.uid;
  out->gid = cred.gid;
  return Status::Ok();
#else
  (void)fd;
  (void)out;
  return Status::Fail("getsockopt", ENOTSUP);
#endif
}

namespace {

#if defined(MSG_NOSIGNAL)
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;  // macOS: SO_NOSIGPIPE is set on the sockets made here
#endif

#if defined(MSG_CMSG_CLOEXEC)
constexpr int kRecvFlags = MSG_CMSG_CLOEXEC;
constexpr bool kLateCloexec = false;
#else
constexpr int kRecvFlags = 0;
constexpr bool kLateCloexec = true;
#endif

// Control space for kMaxPassedFds descriptors, aligned for cmsghdr.
union ControlBuffer {
  cmsghdr align;
  char bytes[CMSG_SPACE(sizeof(int) * kMaxPassedFds)];
};

}  // namespace

Status SendWithFds(int fd, const void* buf, size_t len, const int* fds, int count, ssize_t* out, bool* would_block) {
  *would_block = false;
  *out = 0;
  if (len == 0 || count < 1 || count > kMaxPassedFds) return Status::Fail("sendmsg", EINVAL);
  ControlBuffer control;
  std::memset(&control, 0, sizeof control);
  iovec iov;
  iov.iov_base = const_cast<void*>(buf);
  iov.iov_len = len;
  msghdr msg;
  std::memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.bytes;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * size_t(count));
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * size_t(count));
  std::memcpy(CMSG_DATA(c), fds, sizeof(int) * size_t(count));
  ssize_t r = RetryEintr([&] { return sendmsg(fd, &msg, kSendFlags); });
  if (r == -1) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *would_block = true;
      return Status::Ok();
    }
    return Status::Fail("sendmsg");
  }
  *out = r;
  return Status::Ok();
}

Status RecvWithFds(int fd, void* buf, size_t len, int max_fds, ssize_t* out, int* fds, int* count, bool* would_block) {
  *would_block = false;
  *out = 0;
  *count = 0;
  if (max_fds < 0 || max_fds > kMaxPassedFds) return Status::Fail("recvmsg", EINVAL);
  ControlBuffer control;
  iovec iov;
  iov.iov_base = buf;
  iov.iov_len = len;
  msghdr msg;
  std::memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // No control space at all (max_fds 0) still reports MSG_CTRUNC when
  // descriptors came: the kernel closes them, and so is the read refused.
  msg.msg_control = max_fds == 0 ? nullptr : control.bytes;
  msg.msg_controllen = max_fds == 0 ? 0 : CMSG_SPACE(sizeof(int) * size_t(max_fds));
  ssize_t r = RetryEintr([&] { return recvmsg(fd, &msg, kRecvFlags); });
  if (r == -1) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *would_block = true;
      return Status::Ok();
    }
    return Status::Fail("recvmsg");
  }
  // Every descriptor that arrived is collected first (bounded by the control
  // space: at most kMaxPassedFds), so none is lost whatever happens next.
  int n = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* data = CMSG_DATA(c);
    for (size_t i = 0; i < k && n < kMaxPassedFds; i++) {
      int v;
      std::memcpy(&v, data + i * sizeof(int), sizeof v);
      fds[n++] = v;
    }
  }
  if (kLateCloexec) {
    for (int i = 0; i < n; i++) fcntl(fds[i], F_SETFD, FD_CLOEXEC);
  }
  // CMSG_SPACE rounds up (room for 1 descriptor holds 2 on 64-bit Linux):
  // more than `max_fds` is refused as a truncation too, so the bound is exact.
  if ((msg.msg_flags & MSG_CTRUNC) || n > max_fds) {
    for (int i = 0; i < n; i++) close(fds[i]);
    return Status::Fail("recvmsg", EMSGSIZE);
  }
  *out = r;
  *count = n;
  return Status::Ok();
}

Status DupCloexec(int fd, int* out) {
  int r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (r == -1) return Status::Fail("fcntl");
  *out = r;
  return Status::Ok();
}

}  // namespace posix
