// Faults in the pages of a large upload's buffer on libuv's thread pool, before its bytes arrive
// (src/http/body.ts). A 30 MB SharedArrayBuffer is fresh anonymous memory: every 4 KiB page faults on its first
// write, and that write is the request thread's copy of each arriving chunk. MADV_POPULATE_WRITE (Linux 5.14)
// makes the pages present and writable without changing what they hold, so it is safe while the request thread
// writes the same pages.
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

typedef struct {
  napi_async_work work;
  napi_deferred done;
  napi_ref view;  // keeps the buffer alive until populated
  void *data;
  size_t length;
  bool populated;
} populate_task;

static void populate_execute(napi_env env, void *data) {
  (void)env;
  populate_task *t = data;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t start = ((uintptr_t)t->data + page - 1) & ~(page - 1);
  uintptr_t end = ((uintptr_t)t->data + t->length) & ~(page - 1);
  t->populated = end <= start || madvise((void *)start, end - start, MADV_POPULATE_WRITE) == 0;
}

static void populate_complete(napi_env env, napi_status status, void *data) {
  populate_task *t = data;
  napi_value result;
  napi_get_boolean(env, status == napi_ok && t->populated, &result);
  napi_resolve_deferred(env, t->done, result);
  napi_delete_reference(env, t->view);
  napi_delete_async_work(env, t->work);
  free(t);
}

// populate(view: Uint8Array): Promise<boolean> — faults in the view's whole pages on the pool; resolves true once
// they are, false when the kernel refused (before 5.14: EINVAL). Throws on anything but a Uint8Array of a
// SharedArrayBuffer: a plain ArrayBuffer may be detached and freed while the work waits, a shared one may not.
static napi_value populate(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], promise, name, buffer;
  bool is_typed = false, is_plain = true;
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void *bytes = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &bytes, &buffer, NULL) != napi_ok ||
      type != napi_uint8_array || napi_is_arraybuffer(env, buffer, &is_plain) != napi_ok || is_plain) {
    napi_throw_type_error(env, NULL, "populate: expects a Uint8Array of a SharedArrayBuffer");
    return NULL;
  }
  populate_task *t = calloc(1, sizeof(populate_task));
  if (t == NULL) {
    napi_throw_error(env, NULL, "populate: out of memory");
    return NULL;
  }
  t->data = bytes;
  t->length = length;
  if (napi_create_promise(env, &t->done, &promise) != napi_ok) {
    free(t);
    napi_throw_error(env, NULL, "populate: cannot make a promise");
    return NULL;
  }
  if (napi_create_string_utf8(env, "wasmlet.populate", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_reference(env, argv[0], 1, &t->view) != napi_ok ||
      napi_create_async_work(env, NULL, name, populate_execute, populate_complete, t, &t->work) != napi_ok ||
      napi_queue_async_work(env, t->work) != napi_ok) {
    napi_value no;
    napi_get_boolean(env, false, &no);
    napi_resolve_deferred(env, t->done, no);
    if (t->work != NULL) napi_delete_async_work(env, t->work);
    if (t->view != NULL) napi_delete_reference(env, t->view);
    free(t);
  }
  return promise;
}

void register_populate(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "populate", NAPI_AUTO_LENGTH, populate, NULL, &fn);
  napi_set_named_property(env, exports, "populate", fn);
}
