/*
 * loadgen: an open-loop, constant-rate HTTP/1.1 load generator for wasmlet's benchmark (loopback only).
 *
 * Request i is scheduled at t0 + i/R (fixed) or after exponential gaps of mean 1/R (poisson), whatever the
 * server does. A due request goes to an idle keep-alive connection, or waits in a FIFO queue until one is
 * free; nothing is skipped. Latency is measured from the scheduled time ("corrected", no coordinated
 * omission) and from the actual write ("service"). One thread, epoll, non-blocking sockets, TCP_NODELAY;
 * waits use epoll_pwait2 (ns timeout) or, where the kernel lacks it, a timerfd armed with absolute
 * CLOCK_MONOTONIC deadlines, so the generator sleeps instead of spinning on a core it shares with the server.
 * Cost on this 2-core VM: ~35-45 us of CPU per request (mostly the kernel's sleep/wake-up path, once per send
 * and once per response); --batch-us 1000 roughly halves it at 10k req/s.
 *
 * Build: cc -O2 -Wall -Wextra -o loadgen loadgen.c -lm
 * Output: one JSON line on stdout; diagnostics on stderr; exit 2 on bad arguments, 1 on setup failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define HAVE_PWAIT2 1
#endif

#define NS 1000000000LL
#define MS 1000000LL
#define BUFSZ 65536
#define CONNECT_PHASE_NS (1 * NS) /* longest wait for the first connections before t0 */
#define DRAIN_MAX_NS (3 * NS)     /* longest wait for answers after the last scheduled request */
#define RETRY_NS (10 * MS)        /* pause before reconnecting after a socket error */
#define CHECK_NS (5 * MS)         /* period of the timeout / reconnect scan */

/* ---- latency histogram: 1 us buckets below 1024 us, then 128 sub-buckets per power of two (< 0.8 %) ---- */
#define LIN 1024
#define SUB_BITS 7
#define SUB (1 << SUB_BITS)
#define MAX_EXP 26 /* 2^26 us = 67 s; larger values land in the last bucket (max is kept exactly) */
#define NBUCKETS (LIN + (MAX_EXP - 10) * SUB)

typedef struct {
  uint64_t b[NBUCKETS];
  uint64_t n;
  int64_t max_us;
} hist_t;

static void hist_add(hist_t *h, int64_t ns) {
  int64_t us = ns < 0 ? 0 : (ns + 500) / 1000;
  int i;
  if (us < LIN) {
    i = (int)us;
  } else {
    int e = 63 - __builtin_clzll((unsigned long long)us);
    i = e >= MAX_EXP ? NBUCKETS - 1 : LIN + (e - 10) * SUB + (int)((us >> (e - SUB_BITS)) - SUB);
  }
  h->b[i]++;
  h->n++;
  if (us > h->max_us) h->max_us = us;
}

/* Value (us) of quantile q: the middle of the bucket holding the ceil(q*n)-th smallest sample, capped at max. */
static double hist_q(const hist_t *h, double q) {
  if (h->n == 0) return 0;
  uint64_t rank = (uint64_t)ceil(q * (double)h->n), seen = 0;
  if (rank < 1) rank = 1;
  for (int i = 0; i < NBUCKETS; i++) {
    seen += h->b[i];
    if (seen < rank) continue;
    if (i < LIN) return i;
    int e = 10 + (i - LIN) / SUB, sub = (i - LIN) % SUB;
    double lo = (double)((int64_t)(SUB + sub) << (e - SUB_BITS)), mid = lo + (double)(1LL << (e - SUB_BITS)) / 2;
    return mid > (double)h->max_us ? (double)h->max_us : mid;
  }
  return (double)h->max_us;
}

/* ---- configuration ---- */
static struct {
  char host[300]; /* as written in the URL (Host header) */
  char path[4096];
  struct sockaddr_storage addr;
  socklen_t addrlen;
  double rate, duration, warmup;
  int conns, poisson, force_timerfd;
  const char *expect;
  size_t expect_len;
  const char *trace; /* --trace FILE: one line per measured response (diagnostics) */
  int64_t timeout_ns, batch_ns;
} cfg;

static char req[8192];
static size_t req_len;

/* ---- connections ---- */
enum { C_CLOSED, C_CONNECTING, C_IDLE, C_BUSY };
enum { P_HEAD, P_BODY_CL, P_BODY_EOF, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_CRLF, P_TRAILER };

typedef struct {
  int fd, state, want_out;
  int64_t since;    /* connect start (CONNECTING), retry time (CLOSED) */
  int64_t sched;    /* scheduled time of the request in flight */
  int64_t wrote;    /* time its first byte was written */
  size_t woff;      /* bytes of the request written */
  int retried;      /* request already re-sent once after a keep-alive race */
  int measured;     /* request scheduled inside the measured window */
  int capture;      /* compare this response's body with --expect-body */
  int pstate, status, close_after, got_any;
  int64_t remaining;
  char *buf;
  size_t blen;
  char *body;
  size_t body_len;
  int prev, next, in_idle; /* FIFO list of idle connections */
} conn_t;

static conn_t *conns;
static int idle_head = -1, idle_tail = -1, epfd, tfd = -1;

/* ---- counters (measured window only) ---- */
static struct {
  uint64_t sent, completed, in_window, errors, non2xx, timeouts, reconnects, mismatch, started, backlog_max;
} st;
static hist_t corr, serv;
static int64_t t_ws, t_we; /* measured window [t_ws, t_we) */
static int sock_err_logged;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* ---- pending requests: a growable deque of scheduled times (the open-loop backlog) ---- */
typedef struct {
  int64_t sched;
  int retried;
} pend_t;
static pend_t *q;
static size_t q_cap, q_head, q_len;

static void q_grow(void) {
  size_t cap = q_cap ? q_cap * 2 : 4096;
  pend_t *n = malloc(cap * sizeof *n);
  if (!n) {
    fprintf(stderr, "loadgen: out of memory for the request backlog\n");
    exit(1);
  }
  for (size_t i = 0; i < q_len; i++) n[i] = q[(q_head + i) % q_cap];
  free(q);
  q = n, q_cap = cap, q_head = 0;
}
static void q_push_back(pend_t p) {
  if (q_len == q_cap) q_grow();
  q[(q_head + q_len++) % q_cap] = p;
}
static void q_push_front(pend_t p) {
  if (q_len == q_cap) q_grow();
  q_head = (q_head + q_cap - 1) % q_cap;
  q[q_head] = p;
  q_len++;
}
static pend_t q_pop(void) {
  pend_t p = q[q_head];
  q_head = (q_head + 1) % q_cap;
  q_len--;
  return p;
}

static void idle_push(int i) {
  conn_t *c = &conns[i];
  c->state = C_IDLE;
  c->in_idle = 1, c->next = -1, c->prev = idle_tail;
  if (idle_tail >= 0) conns[idle_tail].next = i;
  else idle_head = i;
  idle_tail = i;
}
static void idle_remove(int i) {
  conn_t *c = &conns[i];
  if (!c->in_idle) return;
  if (c->prev >= 0) conns[c->prev].next = c->next;
  else idle_head = c->next;
  if (c->next >= 0) conns[c->next].prev = c->prev;
  else idle_tail = c->prev;
  c->in_idle = 0;
}

static void set_events(int i, int out) {
  conn_t *c = &conns[i];
  if (c->want_out == out) return;
  struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.u32 = (uint32_t)i};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
  c->want_out = out;
}

static int in_window(int64_t t) { return t >= t_ws && t < t_we; }

static void conn_open(int i, int64_t now) {
  conn_t *c = &conns[i];
  c->blen = 0, c->since = now;
  c->fd = socket(cfg.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    if (!sock_err_logged++) fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
    c->state = C_CLOSED;
    return;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
  epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
  c->want_out = 1;
  if (connect(c->fd, (struct sockaddr *)&cfg.addr, cfg.addrlen) == 0) {
    set_events(i, 0);
    idle_push(i);
  } else if (errno == EINPROGRESS) {
    c->state = C_CONNECTING;
  } else {
    if (!sock_err_logged++) fprintf(stderr, "loadgen: connect: %s\n", strerror(errno));
    if (in_window(now)) st.errors++;
    close(c->fd);
    c->fd = -1, c->state = C_CLOSED, c->since = now + RETRY_NS;
  }
}

/* Closes a connection; error != 0 counts a socket error and delays the reconnect, else reconnects at once. */
static void conn_reset(int i, int64_t now, int error) {
  conn_t *c = &conns[i];
  idle_remove(i);
  if (c->fd >= 0) close(c->fd);
  c->fd = -1, c->want_out = 0;
  if (error && (c->state == C_BUSY ? c->measured : in_window(now))) st.errors++;
  if (error) {
    c->state = C_CLOSED, c->since = now + RETRY_NS;
  } else {
    if (in_window(now)) st.reconnects++;
    conn_open(i, now);
  }
}

static void try_write(int i, int64_t now) {
  conn_t *c = &conns[i];
  while (c->woff < req_len) {
    ssize_t n = send(c->fd, req + c->woff, req_len - c->woff, MSG_NOSIGNAL);
    if (n > 0) {
      c->woff += (size_t)n;
    } else if (n < 0 && errno == EAGAIN) {
      set_events(i, 1);
      return;
    } else {
      if (!sock_err_logged++) fprintf(stderr, "loadgen: send: %s\n", strerror(errno));
      conn_reset(i, now, 1);
      return;
    }
  }
  set_events(i, 0);
}

static void start_request(int i, pend_t p, int64_t now) {
  conn_t *c = &conns[i];
  idle_remove(i);
  c->state = C_BUSY, c->sched = p.sched, c->retried = p.retried, c->wrote = now, c->woff = 0;
  c->pstate = P_HEAD, c->got_any = 0, c->body_len = 0, c->blen = 0;
  c->measured = in_window(p.sched);
  c->capture = 0;
  if (c->measured && !p.retried) {
    st.sent++;
    c->capture = cfg.expect && st.started % 1000 == 0;
    st.started++;
  }
  try_write(i, now);
}

static FILE *trace_f;

static void on_response(int i, int64_t now) {
  conn_t *c = &conns[i];
  if (c->measured) {
    st.completed++;
    if (c->status < 200 || c->status > 299) st.non2xx++;
    hist_add(&corr, now - c->sched);
    hist_add(&serv, now - c->wrote);
    if (trace_f)
      fprintf(trace_f, "%lld %lld %lld %d\n", (long long)((c->sched - t_ws) / 1000),
              (long long)((c->wrote - c->sched) / 1000), (long long)((now - c->wrote) / 1000), i);
    if (c->capture && (c->body_len != cfg.expect_len || memcmp(c->body, cfg.expect, cfg.expect_len) != 0)) {
      st.mismatch++, st.errors++;
      if (st.mismatch == 1)
        fprintf(stderr, "loadgen: body mismatch: got %zu bytes \"%.*s\"\n", c->body_len,
                (int)(c->body_len > 200 ? 200 : c->body_len), c->body);
    }
  }
  if (in_window(now)) st.in_window++;
  if (c->close_after) {
    conn_reset(i, now, 0);
  } else {
    c->blen = 0; /* bytes after a complete response with nothing in flight are dropped */
    idle_push(i);
  }
}

static void keep_body(conn_t *c, const char *p, size_t n) {
  if (!c->capture) return;
  size_t room = cfg.expect_len + 1 - c->body_len;
  if (n > room) n = room;
  memcpy(c->body + c->body_len, p, n);
  c->body_len += n;
}

/* Reads the head of a response at buf[*pos..]; returns 1 when parsed, 0 when incomplete, -1 when malformed. */
static int parse_head(conn_t *c, size_t *pos) {
  char *start = c->buf + *pos;
  char *end = memmem(start, c->blen - *pos, "\r\n\r\n", 4);
  if (!end) return c->blen == BUFSZ ? -1 : 0;
  if (end - start < 12 || strncmp(start, "HTTP/1.", 7) != 0) return -1;
  int minor = start[7] - '0';
  c->status = atoi(start + 9);
  c->close_after = minor == 0;
  int chunked = 0;
  int64_t length = -1;
  char line[512];
  for (char *l = (char *)memchr(start, '\n', (size_t)(end - start)) + 1; l < end + 2;) {
    char *e = (char *)memchr(l, '\n', (size_t)(end + 4 - l));
    size_t n = (size_t)(e - l) > 0 ? (size_t)(e - l) - 1 : 0; /* without "\r" */
    if (n >= sizeof line) n = sizeof line - 1;
    memcpy(line, l, n);
    line[n] = 0;
    l = e + 1;
    char *v = strchr(line, ':');
    if (!v) continue;
    *v++ = 0;
    while (*v == ' ' || *v == '\t') v++;
    if (!strcasecmp(line, "content-length")) length = strtoll(v, NULL, 10);
    else if (!strcasecmp(line, "transfer-encoding")) chunked = strcasestr(v, "chunked") != NULL;
    else if (!strcasecmp(line, "connection")) {
      if (strcasestr(v, "close")) c->close_after = 1;
      else if (strcasestr(v, "keep-alive")) c->close_after = 0;
    }
  }
  *pos = (size_t)(end + 4 - c->buf);
  if (c->status >= 100 && c->status < 200 && c->status != 101) c->pstate = P_HEAD; /* interim response */
  else if (c->status == 204 || c->status == 304 || (c->status >= 100 && c->status < 200)) c->pstate = -1;
  else if (chunked) c->pstate = P_CHUNK_SIZE;
  else if (length >= 0) c->pstate = length ? P_BODY_CL : -1, c->remaining = length;
  else c->pstate = P_BODY_EOF, c->close_after = 1;
  return 1;
}

/* Consumes buffered bytes; returns 1 when a response is complete, 0 when more is needed, -1 on a bad response. */
static int parse(conn_t *c) {
  size_t pos = 0;
  int done = 0;
  while (!done) {
    size_t avail = c->blen - pos;
    char *p = c->buf + pos, *e;
    switch (c->pstate) {
    case P_HEAD: {
      int r = parse_head(c, &pos);
      if (r <= 0) {
        if (r < 0) return -1;
        goto more;
      }
      if (c->pstate == -1) done = 1;
      break;
    }
    case P_BODY_CL:
    case P_CHUNK_DATA: {
      if (!avail) goto more;
      size_t take = (int64_t)avail < c->remaining ? avail : (size_t)c->remaining;
      keep_body(c, p, take);
      pos += take, c->remaining -= (int64_t)take;
      if (c->remaining == 0) {
        if (c->pstate == P_BODY_CL) done = 1;
        else c->pstate = P_CHUNK_CRLF;
      }
      break;
    }
    case P_BODY_EOF:
      keep_body(c, p, avail);
      pos += avail;
      goto more;
    case P_CHUNK_CRLF:
      if (avail < 2) goto more;
      if (p[0] != '\r' || p[1] != '\n') return -1;
      pos += 2, c->pstate = P_CHUNK_SIZE;
      break;
    case P_CHUNK_SIZE:
    case P_TRAILER:
      e = memmem(p, avail, "\r\n", 2);
      if (!e) {
        if (avail > 4096) return -1;
        goto more;
      }
      if (c->pstate == P_TRAILER) {
        done = e == p; /* an empty line ends the trailer */
      } else {
        char *end;
        unsigned long long size = strtoull(p, &end, 16);
        if (end == p || (end < e && *end != ';' && *end != ' ')) return -1;
        if (size) c->pstate = P_CHUNK_DATA, c->remaining = (int64_t)size;
        else c->pstate = P_TRAILER;
      }
      pos = (size_t)(e + 2 - c->buf);
      break;
    default:
      return -1;
    }
  }
  memmove(c->buf, c->buf + pos, c->blen - pos);
  c->blen -= pos;
  return 1;
more:
  memmove(c->buf, c->buf + pos, c->blen - pos);
  c->blen -= pos;
  return 0;
}

static void on_readable(int i, int64_t now) {
  conn_t *c = &conns[i];
  for (;;) {
    ssize_t n = read(c->fd, c->buf + c->blen, BUFSZ - c->blen);
    if (n < 0) {
      if (errno == EAGAIN) return;
      if (!sock_err_logged++) fprintf(stderr, "loadgen: read: %s\n", strerror(errno));
      if (c->state == C_BUSY && !c->got_any && !c->retried && (errno == ECONNRESET || errno == EPIPE)) break;
      conn_reset(i, now, 1);
      return;
    }
    if (n == 0) break;
    if (c->state != C_BUSY) { /* unsolicited bytes: the connection is out of step */
      conn_reset(i, now, 1);
      return;
    }
    c->got_any = 1;
    c->blen += (size_t)n;
    int r = parse(c);
    if (r < 0) {
      if (c->measured) fprintf(stderr, "loadgen: malformed response on connection %d\n", i);
      conn_reset(i, now, 1);
      return;
    }
    if (r == 1) on_response(i, now);
    if ((size_t)n < BUFSZ || c->state != C_BUSY) return;
  }
  /* EOF (or a reset before any answer) */
  if (c->state == C_BUSY && c->pstate == P_BODY_EOF) {
    c->close_after = 1;
    on_response(i, now);
  } else if (c->state == C_BUSY && !c->got_any && !c->retried) {
    /* The server closed a keep-alive connection as we wrote to it: send the request again, once. */
    q_push_front((pend_t){c->sched, 1});
    c->state = C_IDLE;
    conn_reset(i, now, 0);
  } else {
    conn_reset(i, now, c->state == C_BUSY);
  }
}

static void on_event(uint32_t i, uint32_t ev, int64_t now) {
  conn_t *c = &conns[i];
  if (c->state == C_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
      if (!sock_err_logged++) fprintf(stderr, "loadgen: connect: %s\n", strerror(err));
      conn_reset((int)i, now, 1);
    } else if (ev & (EPOLLOUT | EPOLLIN)) {
      set_events((int)i, 0);
      idle_push((int)i);
    }
    return;
  }
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable((int)i, now);
  if (c->state == C_BUSY && (ev & EPOLLOUT) && c->woff < req_len) try_write((int)i, now);
}

/* Timeouts of requests and connects, and delayed reconnects. */
static void scan(int64_t now) {
  for (int i = 0; i < cfg.conns; i++) {
    conn_t *c = &conns[i];
    if (c->state == C_BUSY && now - c->wrote > cfg.timeout_ns) {
      if (c->measured) st.timeouts++, st.errors++;
      c->state = C_CLOSED; /* counted as a timeout, not as a socket error */
      conn_reset(i, now, 0);
    } else if (c->state == C_CONNECTING && now - c->since > cfg.timeout_ns) {
      conn_reset(i, now, 1);
    } else if (c->state == C_CLOSED && c->fd < 0 && now >= c->since) {
      conn_open(i, now);
    }
  }
}

/* ---- waiting ---- */
static int64_t armed = -1;
static int use_pwait2 = 1;

static int wait_until(struct epoll_event *evs, int max, int64_t deadline, int64_t now) {
#ifdef HAVE_PWAIT2
  if (use_pwait2 && !cfg.force_timerfd) {
    int64_t rel = deadline > now ? deadline - now : 0;
    struct timespec ts = {.tv_sec = rel / NS, .tv_nsec = rel % NS};
    int n = epoll_pwait2(epfd, evs, max, &ts, NULL);
    if (n >= 0 || errno != ENOSYS) return n;
    use_pwait2 = 0;
  }
#else
  (void)now;
#endif
  if (tfd < 0) {
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);
  }
  if (deadline != armed) {
    struct itimerspec its = {.it_value = {.tv_sec = deadline / NS, .tv_nsec = deadline % NS}};
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
    armed = deadline;
  }
  return epoll_wait(epfd, evs, max, -1);
}

/* ---- arguments ---- */
static void usage(const char *msg) {
  fprintf(stderr,
          "loadgen: %s\nusage: loadgen --url http://127.0.0.1:PORT/path --rate R --connections C --duration S\n"
          "               [--warmup S] [--arrivals fixed|poisson] [--expect-body STRING] [--timeout-ms N]\n"
          "               [--batch-us N (wake up to N us late and send all due requests: less CPU)]\n"
          "               [--trace FILE (per measured response: scheduled us since start, wait before send us, service us, connection)]\n",
          msg);
  exit(2);
}

static double num(const char *name, const char *v, double lo, double hi) {
  char *end;
  double d = v ? strtod(v, &end) : NAN;
  if (!v || *end || !(d >= lo && d <= hi)) {
    char m[200];
    snprintf(m, sizeof m, "%s must be a number in [%g, %g], got \"%s\"", name, lo, hi, v ? v : "");
    usage(m);
  }
  return d;
}

static void parse_url(const char *url) {
  if (strncmp(url, "http://", 7) != 0) usage("--url must start with http:// (no TLS, loopback only)");
  const char *h = url + 7, *p = h + strcspn(h, "/?#");
  if (p == h || (size_t)(p - h) >= sizeof cfg.host) usage("--url has no host");
  memcpy(cfg.host, h, (size_t)(p - h));
  snprintf(cfg.path, sizeof cfg.path, "%s%s", *p == '/' ? "" : "/", p);
  cfg.path[strcspn(cfg.path, "#")] = 0;
  char name[300];
  int port = 80;
  const char *colon;
  if (cfg.host[0] == '[') {
    const char *rb = strchr(cfg.host, ']');
    if (!rb) usage("--url has an unterminated [IPv6] host");
    snprintf(name, sizeof name, "%.*s", (int)(rb - cfg.host - 1), cfg.host + 1);
    colon = rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = strchr(cfg.host, ':');
    snprintf(name, sizeof name, "%.*s", colon ? (int)(colon - cfg.host) : (int)strlen(cfg.host), cfg.host);
  }
  if (colon) port = (int)num("the URL's port", colon + 1, 1, 65535);
  struct sockaddr_in *a4 = (struct sockaddr_in *)&cfg.addr;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&cfg.addr;
  if (!strcasecmp(name, "localhost")) snprintf(name, sizeof name, "127.0.0.1");
  if (inet_pton(AF_INET, name, &a4->sin_addr) == 1) {
    if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127) goto refuse;
    a4->sin_family = AF_INET, a4->sin_port = htons((uint16_t)port), cfg.addrlen = sizeof *a4;
  } else if (inet_pton(AF_INET6, name, &a6->sin6_addr) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr)) goto refuse;
    a6->sin6_family = AF_INET6, a6->sin6_port = htons((uint16_t)port), cfg.addrlen = sizeof *a6;
  } else {
    goto refuse;
  }
  return;
refuse:
  fprintf(stderr, "loadgen: refusing to load %s: only loopback hosts (127.x.x.x, localhost, [::1]) are allowed\n",
          url);
  exit(2);
}

static void parse_args(int argc, char **argv) {
  const char *url = NULL;
  cfg.timeout_ns = 10000 * MS;
  cfg.rate = cfg.duration = -1, cfg.conns = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--timerfd")) { /* testing aid: skip epoll_pwait2 */
      cfg.force_timerfd = 1;
      continue;
    }
    i++;
    if (!strcmp(a, "--url") && v) url = v;
    else if (!strcmp(a, "--rate")) cfg.rate = num(a, v, 0.001, 10e6);
    else if (!strcmp(a, "--connections")) cfg.conns = (int)num(a, v, 1, 100000);
    else if (!strcmp(a, "--duration")) cfg.duration = num(a, v, 0.001, 86400);
    else if (!strcmp(a, "--warmup")) cfg.warmup = num(a, v, 0, 86400);
    else if (!strcmp(a, "--batch-us")) cfg.batch_ns = (int64_t)(num(a, v, 0, 100000) * 1000);
    else if (!strcmp(a, "--timeout-ms")) cfg.timeout_ns = (int64_t)num(a, v, 1, 3600e3) * MS;
    else if (!strcmp(a, "--expect-body") && v) cfg.expect = v, cfg.expect_len = strlen(v);
    else if (!strcmp(a, "--trace") && v) cfg.trace = v;
    else if (!strcmp(a, "--arrivals") && v && (!strcmp(v, "fixed") || !strcmp(v, "poisson")))
      cfg.poisson = !strcmp(v, "poisson");
    else {
      char m[300];
      snprintf(m, sizeof m, "bad or incomplete option \"%s\"", a);
      usage(m);
    }
  }
  if (!url) usage("--url is required");
  if (cfg.rate < 0 || cfg.conns < 0 || cfg.duration < 0) usage("--rate, --connections and --duration are required");
  parse_url(url);
  req_len = (size_t)snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: wasmlet-loadgen\r\n\r\n",
                             cfg.path, cfg.host);
  if (req_len >= sizeof req) usage("--url is too long");
}

static uint64_t rng;
static double uniform01(void) { /* splitmix64 */
  uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

static void print_hist(const char *name, const hist_t *h) {
  printf("\"%s\":{\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}", name,
         hist_q(h, 0.5) / 1e3, hist_q(h, 0.9) / 1e3, hist_q(h, 0.99) / 1e3, hist_q(h, 0.999) / 1e3,
         (double)h->max_us / 1e3);
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (cfg.trace && !(trace_f = fopen(cfg.trace, "w"))) {
    perror(cfg.trace);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); /* wake within ~1 us of a deadline, not the default 50 us */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)cfg.conns + 16) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int64_t start = now_ns();
  /* Last resort: whatever happens, the process ends (without a report) 5 s after its planned end. */
  alarm((unsigned)ceil(cfg.warmup + cfg.duration) + 5);
  int64_t hard_end = start + (int64_t)((cfg.warmup + cfg.duration) * NS) + 4500 * MS;
  rng = (uint64_t)start ^ ((uint64_t)getpid() << 32);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  conns = calloc((size_t)cfg.conns, sizeof *conns);
  if (epfd < 0 || !conns) {
    fprintf(stderr, "loadgen: setup failed: %s\n", strerror(errno));
    return 1;
  }
  int nev = cfg.conns < 1024 ? cfg.conns + 1 : 1024;
  struct epoll_event *evs = calloc((size_t)nev, sizeof *evs);
  for (int i = 0; i < cfg.conns; i++) {
    conns[i].buf = malloc(BUFSZ);
    conns[i].body = cfg.expect ? malloc(cfg.expect_len + 1) : NULL;
    conns[i].fd = -1, conns[i].in_idle = 0;
    if (!conns[i].buf || (cfg.expect && !conns[i].body)) {
      fprintf(stderr, "loadgen: out of memory\n");
      return 1;
    }
  }
  t_ws = t_we = INT64_MAX; /* nothing is measured while connecting */
  for (int i = 0; i < cfg.conns; i++) conn_open(i, start);
  /* Connect phase: t0 is when every connection is up (or after 1 s; the rest keep trying). */
  for (int64_t now = start; now < start + CONNECT_PHASE_NS;) {
    int up = 0;
    for (int i = 0; i < cfg.conns; i++) up += conns[i].state == C_IDLE;
    if (up == cfg.conns) break;
    int n = epoll_wait(epfd, evs, nev, 10);
    now = now_ns();
    for (int k = 0; k < n; k++)
      if (evs[k].data.u32 != UINT32_MAX) on_event(evs[k].data.u32, evs[k].events, now);
    scan(now);
  }
  int64_t t0 = now_ns();
  t_ws = t0 + (int64_t)(cfg.warmup * NS);
  t_we = t_ws + (int64_t)(cfg.duration * NS);
  int64_t drain_end = t_we + (cfg.timeout_ns < DRAIN_MAX_NS ? cfg.timeout_ns : DRAIN_MAX_NS);
  if (drain_end > hard_end) drain_end = hard_end;
  uint64_t i_sched = 0;
  double gap_sum = 0;
  int64_t next = t0, next_scan = t0 + CHECK_NS;
  int sched_done = 0;
  for (;;) {
    int64_t now = now_ns();
    while (!sched_done && (next <= now || next >= t_we)) {
      if (next >= t_we) {
        sched_done = 1;
        break;
      }
      q_push_back((pend_t){next, 0});
      i_sched++;
      if (cfg.poisson) gap_sum += -log(1 - uniform01()) / cfg.rate, next = t0 + (int64_t)(gap_sum * NS);
      else next = t0 + (int64_t)((double)i_sched * NS / cfg.rate);
    }
    while (q_len && idle_head >= 0) start_request(idle_head, q_pop(), now);
    if (q_len > st.backlog_max && now >= t_ws) st.backlog_max = q_len;
    if (sched_done) {
      int busy = 0;
      for (int i = 0; i < cfg.conns && !busy; i++) busy = conns[i].state == C_BUSY && conns[i].measured;
      int queued = 0;
      for (size_t k = 0; k < q_len && !queued; k++) queued = in_window(q[(q_head + k) % q_cap].sched);
      if ((!busy && !queued) || now >= drain_end) break;
    }
    if (now >= hard_end) break;
    if (now >= next_scan) {
      scan(now);
      next_scan = now + CHECK_NS;
      continue;
    }
    int64_t deadline = next_scan < hard_end ? next_scan : hard_end;
    if (!sched_done && next + cfg.batch_ns < deadline) deadline = next + cfg.batch_ns;
    if (sched_done && drain_end < deadline) deadline = drain_end;
    int n = wait_until(evs, nev, deadline, now);
    if (n < 0 && errno != EINTR) {
      fprintf(stderr, "loadgen: epoll: %s\n", strerror(errno));
      break;
    }
    now = now_ns();
    for (int k = 0; k < n; k++) {
      if (evs[k].data.u32 == UINT32_MAX) {
        uint64_t x;
        if (read(tfd, &x, sizeof x) > 0) armed = -1;
      } else {
        on_event(evs[k].data.u32, evs[k].events, now);
      }
    }
  }
  int64_t end = now_ns();
  uint64_t incomplete = 0;
  for (size_t k = 0; k < q_len; k++) incomplete += in_window(q[(q_head + k) % q_cap].sched);
  for (int i = 0; i < cfg.conns; i++) incomplete += conns[i].state == C_BUSY && conns[i].measured;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
  double sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  double wall = (double)(end - start) / NS;
  printf("{\"rate_target\":%.3f,\"rate_achieved\":%.3f,\"sent\":%llu,\"completed\":%llu,\"errors\":%llu,"
         "\"non2xx\":%llu,\"timeouts\":%llu,\"reconnects\":%llu,\"body_mismatch\":%llu,\"incomplete\":%llu,"
         "\"backlog_max\":%llu,",
         cfg.rate, (double)st.in_window / cfg.duration, (unsigned long long)st.sent,
         (unsigned long long)st.completed, (unsigned long long)st.errors, (unsigned long long)st.non2xx,
         (unsigned long long)st.timeouts, (unsigned long long)st.reconnects, (unsigned long long)st.mismatch,
         (unsigned long long)incomplete, (unsigned long long)st.backlog_max);
  print_hist("corrected", &corr);
  putchar(',');
  print_hist("service", &serv);
  printf(",\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"cpu_pct\":%.1f,\"duration_s\":%.3f,\"elapsed_s\":%.3f,"
         "\"arrivals\":\"%s\",\"timer\":\"%s\"}\n",
         user, sys, wall > 0 ? 100 * (user + sys) / wall : 0, cfg.duration, wall, cfg.poisson ? "poisson" : "fixed",
         use_pwait2 && !cfg.force_timerfd ? "epoll_pwait2" : "timerfd");
  if (trace_f) fclose(trace_f);
  return 0;
}
