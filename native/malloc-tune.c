// Native helpers for the server process, N-API, C only (built by npm install; optional): glibc's mmap threshold
// (see src/main/malloc-tune.ts for why), the request thread's scheduler slice (src/main/request-slice.ts), its CPU
// clock (src/runtime/cpu-budget.ts), exec in place for serve's V8 flags (src/main/node-flags.ts), and a sha256 on
// libuv's thread pool for large layers (sha256-async.c).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <node_api.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// tune(bytes[, trim]): allocations of `bytes` or more get their own mapping, returned to the OS when freed. Setting
// it also turns off glibc's dynamic threshold, which otherwise rises to 32 MiB after the first big free, and with it
// the trim threshold's rise: `trim` (optional) is then how much freed memory at the top of a heap is kept rather
// than returned. True when glibc took every value given.
static napi_value tune(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int64_t bytes = 0;
  int64_t trim = 0;
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int64(env, argv[0], &bytes) != napi_ok || bytes <= 0 || bytes > (1 << 30))
    bytes = 0;
  int ok = bytes > 0 && mallopt(M_MMAP_THRESHOLD, (int)bytes) == 1;
  if (ok && argc >= 2) {
    napi_valuetype type;
    if (napi_typeof(env, argv[1], &type) != napi_ok || type != napi_undefined) {
      ok = napi_get_value_int64(env, argv[1], &trim) == napi_ok && trim > 0 && trim <= (1 << 30) &&
           mallopt(M_TRIM_THRESHOLD, (int)trim) == 1;
    }
  }
  napi_get_boolean(env, ok, &result);
  return result;
}

// The kernel's struct sched_attr (include/uapi/linux/sched/types.h); glibc 2.36 has no wrapper.
struct wl_sched_attr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};

// setSlice(ns): the calling thread's time slice under EEVDF (Linux >= 6.12: sched_runtime of a SCHED_OTHER
// thread; the kernel clamps it to 0.1-100 ms). Keeps the thread's policy and nice. Returns the slice the kernel
// reports afterwards (0 when it cannot be set or read: older kernels, other policies, no syscall).
static napi_value set_slice(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t ns = 0;
  napi_value result;
  int64_t now = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1 &&
      napi_get_value_int64(env, argv[0], &ns) == napi_ok && ns > 0) {
#if defined(SYS_sched_setattr) && defined(SYS_sched_getattr)
    struct wl_sched_attr a;
    memset(&a, 0, sizeof a);
    if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) == 0 && a.sched_policy == 0 /* SCHED_OTHER */) {
      a.size = sizeof a;
      a.sched_flags = 0;
      a.sched_runtime = (uint64_t)ns;
      if (syscall(SYS_sched_setattr, 0, &a, 0) == 0) {
        memset(&a, 0, sizeof a);
        if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) == 0) now = (int64_t)a.sched_runtime;
      }
    }
#endif
  }
  napi_create_int64(env, now, &result);
  return result;
}

// threadCpuMs(): the calling thread's CPU time in ms (CLOCK_THREAD_CPUTIME_ID), -1 when it cannot be read. The
// request thread's budget is CPU, not wall time: a run the scheduler paused did not hold the thread by itself.
static napi_value thread_cpu_ms(napi_env env, napi_callback_info info) {
  struct timespec ts;
  napi_value result;
  (void)info;
  double ms = clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0 ? ts.tv_sec * 1e3 + ts.tv_nsec / 1e6 : -1;
  napi_create_double(env, ms, &result);
  return result;
}

// execSelf(path, argv): replaces this process's image with `path argv…` (execv: same PID, so signals, kill -9 and
// supervisors still see one process). Returns only when it failed: the errno.
static napi_value exec_self(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_value result;
  uint32_t n = 0;
  int err = EINVAL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 2 &&
      napi_get_array_length(env, argv[1], &n) == napi_ok && n > 0 && n < 4096) {
    char path[4096];
    size_t len = 0;
    char **args = calloc(n + 1, sizeof(char *));
    int ok = args != NULL && napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) == napi_ok;
    for (uint32_t i = 0; ok && i < n; i++) {
      napi_value v;
      size_t l = 0;
      ok = napi_get_element(env, argv[1], i, &v) == napi_ok &&
           napi_get_value_string_utf8(env, v, NULL, 0, &l) == napi_ok && (args[i] = malloc(l + 1)) != NULL &&
           napi_get_value_string_utf8(env, v, args[i], l + 1, &l) == napi_ok;
    }
    if (ok) {
      // The standard streams go on into the new image (Node may have marked them close-on-exec).
      for (int fd = 0; fd <= 2; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
      }
      execv(path, args);
      err = errno;
    }
    if (args != NULL) {
      for (uint32_t i = 0; i < n; i++) free(args[i]);
      free(args);
    }
  }
  napi_create_int32(env, err, &result);
  return result;
}

void register_sha256(napi_env env, napi_value exports);
void register_populate(napi_env env, napi_value exports);

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "tune", NAPI_AUTO_LENGTH, tune, NULL, &fn);
  napi_set_named_property(env, exports, "tune", fn);
  napi_create_function(env, "setSlice", NAPI_AUTO_LENGTH, set_slice, NULL, &fn);
  napi_set_named_property(env, exports, "setSlice", fn);
  napi_create_function(env, "threadCpuMs", NAPI_AUTO_LENGTH, thread_cpu_ms, NULL, &fn);
  napi_set_named_property(env, exports, "threadCpuMs", fn);
  napi_create_function(env, "execSelf", NAPI_AUTO_LENGTH, exec_self, NULL, &fn);
  napi_set_named_property(env, exports, "execSelf", fn);
  register_sha256(env, exports);
  register_populate(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
