/*
 * The native C ceiling for the posix-ipc benchmarks.
 *
 * The same workloads as the Node harness (benchmarks/run.ts), done in plain C
 * between a parent and a forked child, so that every Node figure can be shown
 * as a percentage of what the kernel mechanism gives without Node in the way:
 *
 *   stream:<pipe|socket|tcp|shm>:<size>:<batch>  one-way stream, child -> parent
 *   latency:<pipe|socket|tcp|shm>:<size>         ping-pong, parent initiates
 *
 * socket is a UNIX socketpair; tcp a loopback TCP connection (127.0.0.1,
 * TCP_NODELAY, as posix-ipc's TCP channel sets it).
 *   memcpy:<size>                             single-thread copy bandwidth
 *
 * Messages are stamped and verified exactly as benchmarks/lib/payload.ts does
 * (sequence number, flags, tail word, one stamp every 4 KiB, running
 * checksum); any mismatch exits non-zero. Results are printed as one JSON
 * object per line (NDJSON) on stdout as each cell finishes.
 *
 * Build: cc -O2 -o ceiling ceiling.c   (Linux; on macOS the shared-memory
 * ring polls with nanosleep instead of futex waits.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

/* ---- settings (from the command line) ---------------------------------- */

static uint64_t g_warmup_ns = 50000000ull;
static uint64_t g_duration_ns = 150000000ull;
static int g_reps = 3;
static uint64_t g_min_round_trips = 1000;

/* ---- small helpers ------------------------------------------------------ */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char* what) {
  fprintf(stderr, "ceiling: %s: %s\n", what, strerror(errno));
  exit(2);
}

/* A verification failure: the figures of this run cannot be trusted. */
static void fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "ceiling: VERIFICATION FAILED: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(3);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void* xmalloc_aligned(size_t n) {
  void* p = NULL;
  if (posix_memalign(&p, 64, n < 64 ? 64 : n) != 0) {
    errno = ENOMEM;
    die("posix_memalign");
  }
  return p;
}

static void write_all(int fd, const void* buf, size_t n) {
  const uint8_t* p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += w;
    n -= (size_t)w;
  }
}

/* Reads exactly n bytes; returns 0 at end of file before the first byte. */
static int read_exact(int fd, void* buf, size_t n) {
  uint8_t* p = buf;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (r == 0) {
      if (got == 0) return 0;
      fail("end of stream inside a message (%zu of %zu bytes)", got, n);
    }
    got += (size_t)r;
  }
  return 1;
}

/* ---- payload: must match benchmarks/lib/payload.ts ---------------------- */

#define FLAG_START 1u
#define FLAG_END 2u
#define STAMP_STRIDE 4096u

static inline uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v; /* little-endian hosts only (x86-64, arm64) */
}
static inline void wr32(uint8_t* p, uint32_t v) {
  memcpy(p, &v, 4);
}
static inline uint32_t tail_value(uint32_t seq) {
  return seq ^ 0xA5A5A5A5u;
}
static inline uint32_t stamp_value(uint32_t seq, uint32_t k) {
  return seq * 0x9E3779B1u + k * 0x85EBCA77u;
}
static inline size_t tail_off(size_t size) {
  return (size - 4) & ~(size_t)3;
}
static inline size_t mid_off(size_t size) {
  return (size / 2) & ~(size_t)3;
}
static inline uint32_t mix(uint32_t cs, uint32_t w) {
  return (cs ^ w) * 0x01000193u;
}

static void fill_pattern(uint8_t* m, size_t size) {
  for (size_t i = 0; i < size; i++) m[i] = (uint8_t)('a' + i % 26);
}

/* Stamps a message and folds it into the producer's checksum. */
static inline uint32_t stamp(uint8_t* m, size_t size, uint32_t seq, uint32_t flags, uint32_t cs) {
  size_t t = tail_off(size);
  wr32(m, seq);
  wr32(m + 4, flags);
  for (size_t k = 1; k * STAMP_STRIDE + 4 <= t; k++) wr32(m + k * STAMP_STRIDE, stamp_value(seq, (uint32_t)k));
  wr32(m + t, tail_value(seq));
  cs = mix(cs, seq);
  cs = mix(cs, tail_value(seq));
  return mix(cs, rd32(m + mid_off(size)));
}

typedef struct {
  double seconds;
  uint64_t messages;
} rep_t;

typedef struct {
  size_t size;
  uint32_t batch;
  uint32_t expected;
  uint32_t cs;
  uint64_t count;
  int in_rep;
  uint64_t rep_n;
  uint64_t t0;
  int nreps;
  rep_t reps[64];
} consumer_t;

/* Verifies one message and keeps the measurement clock. */
static inline void on_message(consumer_t* c, const uint8_t* m) {
  size_t size = c->size, t = tail_off(size);
  uint32_t seq = rd32(m);
  if (seq != c->expected) fail("message %" PRIu64 ": sequence %u, expected %u", c->count, seq, c->expected);
  uint32_t tail = rd32(m + t);
  if (tail != tail_value(seq)) fail("message %u: bad tail word", seq);
  for (size_t k = 1; k * STAMP_STRIDE + 4 <= t; k++)
    if (rd32(m + k * STAMP_STRIDE) != stamp_value(seq, (uint32_t)k)) fail("message %u: bad stamp %zu", seq, k);
  c->cs = mix(mix(mix(c->cs, seq), tail), rd32(m + mid_off(size)));
  uint32_t flags = rd32(m + 4);
  if (flags & FLAG_START) {
    c->t0 = now_ns();
    c->rep_n = 0;
    c->in_rep = 1;
  }
  if (c->in_rep) c->rep_n++;
  if (flags & FLAG_END) {
    uint64_t t1 = now_ns();
    if (!c->in_rep || c->nreps >= 64) fail("message %u: unexpected end-of-repetition flag", seq);
    /* The first batch arrives at t0: only what came after it was timed. */
    c->reps[c->nreps].messages = c->rep_n - c->batch;
    c->reps[c->nreps].seconds = (double)(t1 - c->t0) / 1e9;
    c->nreps++;
    c->in_rep = 0;
  }
  c->expected++;
  c->count++;
}

/* ---- futex (Linux) or polling (elsewhere) ------------------------------- */

static pid_t g_peer = 0;     /* the other process of the current cell */
static int g_peer_is_parent; /* in the child: the peer is our parent */

static void check_peer(void) {
  if (g_peer_is_parent) {
    if (getppid() != g_peer) fail("the parent went away");
  } else if (g_peer > 0) {
    int st;
    pid_t r = waitpid(g_peer, &st, WNOHANG);
    if (r == g_peer) fail("the child exited early (status %d)", st);
  }
}

static void futex_wait_ms(uint32_t* addr, uint32_t expected, int ms) {
#ifdef __linux__
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  /* Not FUTEX_PRIVATE: the word lives in memory shared by two processes. */
  syscall(SYS_futex, addr, FUTEX_WAIT, expected, &ts, NULL, 0);
#else
  (void)ms;
  struct timespec ts = {0, 50000};
  if (__atomic_load_n(addr, __ATOMIC_SEQ_CST) == expected) nanosleep(&ts, NULL);
#endif
}

static void futex_wake(uint32_t* addr) {
#ifdef __linux__
  syscall(SYS_futex, addr, FUTEX_WAKE, 1, NULL, NULL, 0);
#else
  (void)addr;
#endif
}

/* ---- shared-memory SPSC ring (same layout as benchmarks/lib/sab-ring.ts) -- */

#define RING_HDR 256u
#define FRAME_WRAP 0xFFFFFFFFu
#define FRAME_END 0xFFFFFFFEu
#define SPIN_NS 20000ull

typedef struct {
  uint32_t tail; /* producer position, free-running */
  uint8_t pad0[60];
  uint32_t head; /* consumer position, free-running */
  uint8_t pad1[60];
  uint32_t cwait; /* 1 while the consumer sleeps (or is about to) */
  uint8_t pad2[60];
  uint32_t pwait; /* 1 while the producer sleeps (or is about to) */
  uint8_t pad3[60];
} ring_hdr_t;

typedef struct {
  ring_hdr_t* h;
  uint8_t* data;
  uint32_t cap, mask;
  uint32_t pos;  /* our own counter (tail for the producer, head for the consumer) */
  uint32_t peer; /* last seen counter of the other side */
  uint32_t unreleased;
} ring_t;

static inline uint32_t frame_bytes(uint32_t len) {
  return 8u + ((len + 7u) & ~7u);
}

/* Same policy as benchmarks/lib/payload.ts ringCapacity(). */
static uint32_t ring_capacity(size_t size) {
  uint64_t want = 4ull * frame_bytes((uint32_t)size);
  if (want < 2048 * 1024) want = 2048 * 1024;
  uint64_t cap = 1;
  while (cap < want) cap <<= 1;
  return (uint32_t)cap;
}

/* Creates the ring with shm_open + mmap; the name is unlinked at once, the
 * mapping reaches the child through fork. */
static void* ring_map(uint32_t cap) {
  char name[64];
  static unsigned counter;
  snprintf(name, sizeof name, "/pipc-bench-c-%d-%u", (int)getpid(), counter++);
  int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) die("shm_open");
  shm_unlink(name);
  size_t len = RING_HDR + cap;
  if (ftruncate(fd, (off_t)len) != 0) die("ftruncate");
  void* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) die("mmap");
  close(fd);
  memset(p, 0, RING_HDR);
  return p;
}

static void ring_init(ring_t* r, void* base, uint32_t cap) {
  memset(r, 0, sizeof *r);
  r->h = base;
  r->data = (uint8_t*)base + RING_HDR;
  r->cap = cap;
  r->mask = cap - 1;
}

/* Producer: make the frames written so far visible; wake the consumer only
 * when it sleeps. */
static inline void ring_publish(ring_t* r) {
  __atomic_store_n(&r->h->tail, r->pos, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&r->h->cwait, __ATOMIC_SEQ_CST) && __atomic_exchange_n(&r->h->cwait, 0, __ATOMIC_SEQ_CST))
    futex_wake(&r->h->tail);
}

/* Consumer: give the space of consumed frames back. */
static inline void ring_release(ring_t* r) {
  __atomic_store_n(&r->h->head, r->pos, __ATOMIC_SEQ_CST);
  r->unreleased = 0;
  if (__atomic_load_n(&r->h->pwait, __ATOMIC_SEQ_CST) && __atomic_exchange_n(&r->h->pwait, 0, __ATOMIC_SEQ_CST))
    futex_wake(&r->h->head);
}

/* Waits until *word != seen: spin for a while, then sleep on the futex. */
static void wait_change(uint32_t* word, uint32_t seen, uint32_t* flag) {
  uint64_t start = now_ns();
  for (unsigned i = 1;; i++) {
    if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != seen) return;
    cpu_relax();
    if ((i & 255) == 0) {
      if (now_ns() - start > SPIN_NS) break;
      sched_yield(); /* lets the peer run if it shares this CPU */
    }
  }
  for (;;) {
    __atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != seen) break;
    futex_wait_ms(word, seen, 100);
    if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != seen) break;
    check_peer();
  }
  __atomic_store_n(flag, 0, __ATOMIC_SEQ_CST);
}

static void ring_reserve(ring_t* r, uint32_t total) {
  while (r->cap - (r->pos - r->peer) < total) {
    r->peer = __atomic_load_n(&r->h->head, __ATOMIC_ACQUIRE);
    if (r->cap - (r->pos - r->peer) >= total) return;
    ring_publish(r); /* a batching producer must let the consumer drain */
    wait_change(&r->h->head, r->peer, &r->h->pwait);
  }
}

static inline void ring_put(ring_t* r, const uint8_t* msg, uint32_t len) {
  uint32_t need = frame_bytes(len);
  uint32_t idx = r->pos & r->mask, contig = r->cap - idx;
  ring_reserve(r, contig < need ? contig + need : need);
  if (contig < need) {
    wr32(r->data + idx, FRAME_WRAP);
    r->pos += contig;
    idx = 0;
  }
  wr32(r->data + idx, len);
  memcpy(r->data + idx + 8, msg, len);
  r->pos += need;
}

static void ring_close(ring_t* r) {
  uint32_t idx = r->pos & r->mask, contig = r->cap - idx;
  ring_reserve(r, contig < 8 ? contig + 8 : 8);
  if (contig < 8) {
    wr32(r->data + idx, FRAME_WRAP);
    r->pos += contig;
    idx = 0;
  }
  wr32(r->data + idx, FRAME_END);
  r->pos += 8;
  ring_publish(r);
}

/* Consumer: the next frame's payload (valid until ring_next), NULL at end. */
static const uint8_t* ring_get(ring_t* r, uint32_t* len_out) {
  for (;;) {
    if (r->pos == r->peer) {
      ring_release(r);
      r->peer = __atomic_load_n(&r->h->tail, __ATOMIC_ACQUIRE);
      if (r->pos == r->peer) {
        wait_change(&r->h->tail, r->pos, &r->h->cwait);
        r->peer = __atomic_load_n(&r->h->tail, __ATOMIC_ACQUIRE);
      }
      continue;
    }
    uint32_t idx = r->pos & r->mask;
    uint32_t len = rd32(r->data + idx);
    if (len == FRAME_WRAP) {
      r->pos += r->cap - idx;
      continue;
    }
    if (len == FRAME_END) return NULL;
    /* Never trust the other process: the frame must fit where it claims to be. */
    if (len > r->cap - idx - 8 || frame_bytes(len) > r->peer - r->pos) fail("ring frame length %u out of bounds", len);
    *len_out = len;
    return r->data + idx + 8;
  }
}

static inline void ring_next(ring_t* r, uint32_t len) {
  uint32_t n = frame_bytes(len);
  r->pos += n;
  r->unreleased += n;
  if (r->unreleased >= r->cap / 4) ring_release(r);
}

/* ---- one-way stream ------------------------------------------------------ */

enum { T_PIPE, T_SOCKET, T_SHM, T_TCP };
static const char* const kTransportNames[] = {"pipe", "socket", "shm", "tcp"};
#define N_TRANSPORTS 4

typedef struct {
  int kind;
  int fd;      /* pipe/socket end */
  ring_t ring; /* shm */
} link_t;

/* The producer (child): warm-up, then reps timed by the consumer via flags. */
static void produce(link_t* l, size_t size, uint32_t batch, int result_fd) {
  uint8_t* msg = xmalloc_aligned(size);
  fill_pattern(msg, size);
  uint8_t* stage = NULL;
  if (l->kind != T_SHM && batch > 1) stage = xmalloc_aligned(size * batch);
  uint32_t seq = 0, cs = 0;
  const unsigned check_every = (batch == 1 && size <= 4096) ? 16 : 1;

  for (int phase = 0; phase <= g_reps; phase++) {
    /* phase 0 is the warm-up; a rep starts with FLAG_START and ends with FLAG_END. */
    uint64_t deadline = now_ns() + (phase == 0 ? g_warmup_ns : g_duration_ns);
    int first = phase > 0, last = 0;
    for (unsigned iter = 0;; iter++) {
      if (iter % check_every == 0 && now_ns() >= deadline) {
        if (phase == 0) break;
        last = 1;
      }
      for (uint32_t i = 0; i < batch; i++) {
        uint32_t flags = (first && i == 0 ? FLAG_START : 0) | (last && i == batch - 1 ? FLAG_END : 0);
        if (stage) {
          cs = stamp(msg, size, seq++, flags, cs);
          memcpy(stage + i * size, msg, size);
        } else if (l->kind == T_SHM) {
          cs = stamp(msg, size, seq++, flags, cs);
          ring_put(&l->ring, msg, (uint32_t)size);
        } else {
          cs = stamp(msg, size, seq++, flags, cs);
          write_all(l->fd, msg, size);
        }
      }
      if (stage) write_all(l->fd, stage, size * batch);
      if (l->kind == T_SHM) ring_publish(&l->ring);
      first = 0;
      if (last) break;
    }
  }
  if (l->kind == T_SHM)
    ring_close(&l->ring);
  else
    close(l->fd);
  uint64_t report[2] = {seq, cs};
  write_all(result_fd, report, sizeof report);
  free(msg);
  free(stage);
}

static void consume(link_t* l, consumer_t* c) {
  if (l->kind == T_SHM) {
    /* Receive into reused memory, as the channel API's receive-into does. */
    uint8_t* msg = xmalloc_aligned(c->size);
    uint32_t len;
    const uint8_t* p;
    while ((p = ring_get(&l->ring, &len)) != NULL) {
      if (len != c->size) fail("frame of %u bytes, expected %zu", len, c->size);
      memcpy(msg, p, len);
      ring_next(&l->ring, len);
      on_message(c, msg);
    }
    ring_release(&l->ring);
    free(msg);
    return;
  }
  /* A read buffer holding whole messages: no message straddles its end. */
  size_t cap = c->size >= 65536 ? c->size : (65536 / c->size) * c->size;
  uint8_t* buf = xmalloc_aligned(cap);
  size_t fill = 0, done = 0;
  for (;;) {
    ssize_t r = read(l->fd, buf + fill, cap - fill);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (r == 0) break;
    fill += (size_t)r;
    while (fill - done >= c->size) {
      on_message(c, buf + done);
      done += c->size;
    }
    if (fill == cap) fill = done = 0;
  }
  if (fill != done) fail("end of stream inside a message");
  free(buf);
}

static void print_reps_stream(const consumer_t* c) {
  for (int i = 0; i < c->nreps; i++)
    printf("%s{\"messages\":%" PRIu64 ",\"seconds\":%.9f}", i ? "," : "", c->reps[i].messages, c->reps[i].seconds);
}

/* The same pipe buffer as posix-ipc's stream sender asks for (1 MiB), where the
 * OS allows: the ceiling must use the kernel mechanism the same way. */
static void enlarge_pipe(int fd) {
#ifdef F_SETPIPE_SZ
  (void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
#else
  (void)fd;
#endif
}

/* A connected loopback TCP pair (127.0.0.1, an ephemeral port), TCP_NODELAY on both. */
static void tcp_pair(int fds[2]) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  if (l < 0) die("socket");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(l, (struct sockaddr*)&a, sizeof a) != 0 || listen(l, 1) != 0) die("bind/listen");
  if (getsockname(l, (struct sockaddr*)&a, &len) != 0) die("getsockname");
  fds[0] = socket(AF_INET, SOCK_STREAM, 0);
  if (fds[0] < 0 || connect(fds[0], (struct sockaddr*)&a, sizeof a) != 0) die("connect");
  fds[1] = accept(l, NULL, NULL);
  if (fds[1] < 0) die("accept");
  close(l);
  int one = 1;
  for (int i = 0; i < 2; i++)
    if (setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die("TCP_NODELAY");
}

static void make_link(int kind, size_t size, link_t* parent_end, link_t* child_end, void** map, size_t* map_len) {
  parent_end->kind = child_end->kind = kind;
  *map = NULL;
  if (kind == T_PIPE) {
    int fds[2];
    if (pipe(fds) != 0) die("pipe");
    enlarge_pipe(fds[1]);
    parent_end->fd = fds[0];
    child_end->fd = fds[1];
  } else if (kind == T_SOCKET || kind == T_TCP) {
    int fds[2];
    if (kind == T_TCP)
      tcp_pair(fds);
    else if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
      die("socketpair");
    parent_end->fd = fds[0];
    child_end->fd = fds[1];
  } else {
    uint32_t cap = ring_capacity(size);
    *map = ring_map(cap);
    *map_len = RING_HDR + cap;
    ring_init(&parent_end->ring, *map, cap);
    ring_init(&child_end->ring, *map, cap);
  }
}

static void reap(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) die("waitpid");
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail("the child failed (status %d)", st);
}

static void run_stream(int kind, size_t size, uint32_t batch) {
  link_t pe, ce;
  void* map;
  size_t map_len = 0;
  make_link(kind, size, &pe, &ce, &map, &map_len);
  int res[2];
  if (pipe(res) != 0) die("pipe");
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    g_peer = getppid();
    g_peer_is_parent = 1;
    close(res[0]);
    if (kind != T_SHM) close(pe.fd);
    produce(&ce, size, batch, res[1]);
    _exit(0);
  }
  g_peer = pid;
  g_peer_is_parent = 0;
  close(res[1]);
  if (kind != T_SHM) close(ce.fd);
  consumer_t* c = calloc(1, sizeof *c);
  c->size = size;
  c->batch = batch;
  consume(&pe, c);
  uint64_t report[2];
  if (!read_exact(res[0], report, sizeof report)) fail("the producer sent no report");
  close(res[0]);
  if (kind != T_SHM) close(pe.fd);
  reap(pid);
  g_peer = 0;
  if (report[0] != c->count)
    fail("%s %zu B: sent %" PRIu64 " messages, received %" PRIu64, kTransportNames[kind], size, report[0], c->count);
  if ((uint32_t)report[1] != c->cs) fail("%s %zu B: checksum mismatch", kTransportNames[kind], size);
  if (c->nreps != g_reps)
    fail("%s %zu B: %d repetitions timed, expected %d", kTransportNames[kind], size, c->nreps, g_reps);
  printf("{\"workload\":\"stream\",\"transport\":\"%s\",\"size\":%zu,\"batch\":%u,\"reps\":[", kTransportNames[kind],
         size, batch);
  print_reps_stream(c);
  printf("],\"verified\":{\"messages\":%" PRIu64 ",\"checksum\":%u}}\n", c->count, c->cs);
  fflush(stdout);
  if (map) munmap(map, map_len);
  free(c);
}

/* ---- ping-pong latency --------------------------------------------------- */

typedef struct {
  int kind;
  int rfd, wfd;
  ring_t rx, tx;
} duplex_t;

static void dx_send(duplex_t* d, const uint8_t* m, size_t size) {
  if (d->kind == T_SHM) {
    ring_put(&d->tx, m, (uint32_t)size);
    ring_publish(&d->tx);
  } else {
    write_all(d->wfd, m, size);
  }
}

/* Receives one message into m; returns 0 at end of stream. */
static int dx_recv(duplex_t* d, uint8_t* m, size_t size) {
  if (d->kind != T_SHM) return read_exact(d->rfd, m, size);
  uint32_t len;
  const uint8_t* p = ring_get(&d->rx, &len);
  if (!p) return 0;
  if (len != size) fail("frame of %u bytes, expected %zu", len, size);
  memcpy(m, p, len);
  ring_next(&d->rx, len);
  return 1;
}

static void dx_close(duplex_t* d) {
  if (d->kind == T_SHM)
    ring_close(&d->tx);
  else if (d->kind == T_SOCKET || d->kind == T_TCP)
    shutdown(d->wfd, SHUT_WR); /* the same descriptor still reads */
  else
    close(d->wfd);
}

static int cmp_u32(const void* a, const void* b) {
  uint32_t x = *(const uint32_t*)a, y = *(const uint32_t*)b;
  return x < y ? -1 : x > y;
}

static void check_echo(const uint8_t* m, size_t size, uint32_t seq) {
  if (rd32(m) != seq) fail("round trip %u: got sequence %u", seq, rd32(m));
  if (rd32(m + tail_off(size)) != tail_value(seq)) fail("round trip %u: bad tail word", seq);
}

static void run_latency(int kind, size_t size) {
  duplex_t pd = {.kind = kind}, cd = {.kind = kind};
  void *map1 = NULL, *map2 = NULL;
  size_t map_len = 0;
  if (kind == T_PIPE) {
    int a[2], b[2];
    if (pipe(a) != 0 || pipe(b) != 0) die("pipe");
    enlarge_pipe(a[1]);
    enlarge_pipe(b[1]);
    pd.wfd = a[1], cd.rfd = a[0];
    cd.wfd = b[1], pd.rfd = b[0];
  } else if (kind == T_SOCKET || kind == T_TCP) {
    int s[2];
    if (kind == T_TCP)
      tcp_pair(s);
    else if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0)
      die("socketpair");
    pd.rfd = pd.wfd = s[0];
    cd.rfd = cd.wfd = s[1];
  } else {
    uint32_t cap = ring_capacity(size);
    map_len = RING_HDR + cap;
    map1 = ring_map(cap);
    map2 = ring_map(cap);
    ring_init(&pd.tx, map1, cap);
    ring_init(&cd.rx, map1, cap);
    ring_init(&cd.tx, map2, cap);
    ring_init(&pd.rx, map2, cap);
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) die("fork");
  uint8_t* m = xmalloc_aligned(size);
  fill_pattern(m, size);
  if (pid == 0) {
    /* Responder: check each ping, answer with a pong of the same sequence. */
    g_peer = getppid();
    g_peer_is_parent = 1;
    if (kind == T_PIPE) close(pd.wfd), close(pd.rfd);
    if (kind == T_SOCKET || kind == T_TCP) close(pd.rfd);
    uint32_t expect = 0;
    while (dx_recv(&cd, m, size)) {
      check_echo(m, size, expect);
      stamp(m, size, expect, 0, 0);
      dx_send(&cd, m, size);
      expect++;
    }
    dx_close(&cd);
    _exit(0);
  }
  g_peer = pid;
  g_peer_is_parent = 0;
  if (kind == T_PIPE) close(cd.wfd), close(cd.rfd);
  if (kind == T_SOCKET || kind == T_TCP) close(cd.rfd);

  uint32_t seq = 0;
  size_t cap_samples = 1 << 16;
  uint32_t* samples = malloc(cap_samples * sizeof *samples);
  printf("{\"workload\":\"latency\",\"transport\":\"%s\",\"size\":%zu,\"reps\":[", kTransportNames[kind], size);
  for (int phase = 0; phase <= g_reps; phase++) {
    uint64_t deadline = now_ns() + (phase == 0 ? g_warmup_ns : g_duration_ns);
    size_t n = 0;
    for (;;) {
      uint64_t t0 = now_ns();
      stamp(m, size, seq, 0, 0);
      dx_send(&pd, m, size);
      if (!dx_recv(&pd, m, size)) fail("end of stream during a round trip");
      uint64_t t1 = now_ns();
      check_echo(m, size, seq);
      seq++;
      if (phase > 0) {
        if (n == cap_samples) samples = realloc(samples, (cap_samples *= 2) * sizeof *samples);
        samples[n++] = (uint32_t)(t1 - t0 > UINT32_MAX ? UINT32_MAX : t1 - t0);
      }
      if (t1 >= deadline && (phase == 0 || n >= g_min_round_trips)) break;
    }
    if (phase == 0) continue;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += samples[i];
    qsort(samples, n, sizeof *samples, cmp_u32);
    size_t p99 = (size_t)((99 * n + 99) / 100); /* nearest rank: ceil(0.99 n) */
    printf("%s{\"count\":%zu,\"medianNs\":%u,\"p99Ns\":%u,\"maxNs\":%u,\"meanNs\":%.1f}", phase > 1 ? "," : "", n,
           samples[(n + 1) / 2 - 1], samples[p99 - 1], samples[n - 1], sum / (double)n);
  }
  dx_close(&pd);
  /* Drain until the responder closes its side. */
  while (dx_recv(&pd, m, size)) fail("unexpected message after the last round trip");
  if (kind != T_SHM) close(pd.rfd);
  if (kind == T_PIPE) close(pd.wfd);
  reap(pid);
  g_peer = 0;
  printf("],\"verified\":{\"messages\":%u}}\n", seq);
  fflush(stdout);
  free(samples);
  free(m);
  if (map1) munmap(map1, map_len), munmap(map2, map_len);
}

/* ---- memcpy bandwidth ---------------------------------------------------- */

static void run_memcpy(size_t size) {
  /* Copy into a region as large as the ring would be: the same cache footprint. */
  size_t region = ring_capacity(size);
  uint8_t *src = xmalloc_aligned(size), *dst = xmalloc_aligned(region);
  fill_pattern(src, size);
  memset(dst, 0, region);
  size_t per_check = size >= 65536 ? 1 : 65536 / size;
  printf("{\"workload\":\"memcpy\",\"size\":%zu,\"reps\":[", size);
  for (int phase = 0; phase <= g_reps; phase++) {
    uint64_t t0 = now_ns(), deadline = t0 + (phase == 0 ? g_warmup_ns : g_duration_ns), t1;
    size_t off = 0;
    uint64_t bytes = 0;
    do {
      for (size_t i = 0; i < per_check; i++) {
        if (off + size > region) off = 0;
        memcpy(dst + off, src, size);
        __asm__ __volatile__("" ::: "memory"); /* keep every copy */
        off += size;
      }
      bytes += per_check * size;
    } while ((t1 = now_ns()) < deadline);
    if (phase > 0)
      printf("%s{\"bytes\":%" PRIu64 ",\"seconds\":%.9f}", phase > 1 ? "," : "", bytes, (double)(t1 - t0) / 1e9);
  }
  printf("]}\n");
  fflush(stdout);
  free(src);
  free(dst);
}

/* ---- command line -------------------------------------------------------- */

static int parse_kind(const char* s) {
  for (int i = 0; i < N_TRANSPORTS; i++)
    if (strcmp(s, kTransportNames[i]) == 0) return i;
  fprintf(stderr, "ceiling: unknown transport '%s'\n", s);
  exit(64);
}

static size_t parse_size(const char* s) {
  char* end;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end != '\0' || v < 16 || v > (1ull << 28)) {
    fprintf(stderr, "ceiling: bad size '%s' (16 B to 256 MiB)\n", s);
    exit(64);
  }
  return (size_t)v;
}

static void usage(void) {
  fprintf(stderr,
          "usage: ceiling [-w warmup_ms] [-d duration_ms] [-r reps] [-n min_round_trips] cell...\n"
          "cells: stream:<pipe|socket|tcp|shm>:<size>:<batch>  latency:<pipe|socket|tcp|shm>:<size>  memcpy:<size>\n");
  exit(64);
}

int main(int argc, char** argv) {
  int opt;
  while ((opt = getopt(argc, argv, "w:d:r:n:h")) != -1) {
    switch (opt) {
      case 'w':
        g_warmup_ns = strtoull(optarg, NULL, 10) * 1000000ull;
        break;
      case 'd':
        g_duration_ns = strtoull(optarg, NULL, 10) * 1000000ull;
        break;
      case 'r':
        g_reps = atoi(optarg);
        break;
      case 'n':
        g_min_round_trips = strtoull(optarg, NULL, 10);
        break;
      default:
        usage();
    }
  }
  if (g_reps < 1 || g_reps > 64 || g_duration_ns == 0) usage();
  signal(SIGPIPE, SIG_DFL);
  for (int i = optind; i < argc; i++) {
    char* cell = strdup(argv[i]);
    char* work = strtok(cell, ":");
    if (!work) usage();
    if (strcmp(work, "stream") == 0) {
      char *t = strtok(NULL, ":"), *s = strtok(NULL, ":"), *b = strtok(NULL, ":");
      if (!t || !s || !b) usage();
      long batch = atol(b);
      if (batch < 1 || batch > 65536) usage();
      run_stream(parse_kind(t), parse_size(s), (uint32_t)batch);
    } else if (strcmp(work, "latency") == 0) {
      char *t = strtok(NULL, ":"), *s = strtok(NULL, ":");
      if (!t || !s) usage();
      run_latency(parse_kind(t), parse_size(s));
    } else if (strcmp(work, "memcpy") == 0) {
      char* s = strtok(NULL, ":");
      if (!s) usage();
      run_memcpy(parse_size(s));
    } else {
      usage();
    }
    free(cell);
  }
  return 0;
}
