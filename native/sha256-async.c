// sha256 of a large layer on libuv's thread pool (src/registry/large-layer.ts): OpenSSL's, which node carries and
// exports to addons. A layer thread of our own cost its boot — a Node isolate, 30-70 ms of CPU here — on every
// create it had ended before, on a 2-core machine where that CPU came out of the upload's own compile; a thread
// kept for it, ~12 MiB of RSS for good. The pool's threads are there already and cost nothing idle.
//
// Updates are queued here and hashed in order by one pool task at a time, which takes the next queued one itself:
// the thread that queues them (the request thread, busy compiling the upload) is not needed between two.
#include <node_api.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct item {
  struct item *next;
  napi_ref view;  // keeps the bytes alive until hashed
  const unsigned char *data;
  size_t length;
} item;

typedef struct {
  EVP_MD_CTX *ctx;
  pthread_mutex_t lock;
  // Under lock: queued and not yet hashed (head first), hashed but whose view is not yet released.
  item *queued, *queued_tail, *hashed;
  int running;  // a pool task is draining `queued`
  int failed;   // an update failed: the digest is an error
  // JS thread only:
  int closed;   // the digest was asked for: no more updates
  int tasks;    // tasks queued whose completion (drained) has not run yet; they may complete in any order
  napi_deferred digest;  // the digest's promise, once asked for while tasks were left
  napi_ref self;  // the hash's external, alive while tasks > 0
} hasher;

typedef struct {
  napi_async_work work;
  hasher *h;
} task;

static void hasher_free(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  hasher *h = data;
  EVP_MD_CTX_free(h->ctx);
  pthread_mutex_destroy(&h->lock);
  free(h);
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

// The arguments of `name`, `count` of them, into argv; the first must be a hash still taking updates. Returns it,
// or NULL with an error thrown.
static hasher *open_hash(napi_env env, napi_callback_info info, const char *name, size_t count, napi_value *argv) {
  char message[96];
  size_t argc = count;
  void *data = NULL;
  napi_valuetype type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < count) {
    snprintf(message, sizeof message, "%s: needs %zu arguments", name, count);
  } else if (napi_typeof(env, argv[0], &type) != napi_ok || type != napi_external ||
             napi_get_value_external(env, argv[0], &data) != napi_ok) {
    snprintf(message, sizeof message, "%s: not a hash", name);
  } else if (((hasher *)data)->closed) {
    snprintf(message, sizeof message, "%s: the digest was asked for", name);
  } else {
    return data;
  }
  napi_throw_error(env, NULL, message);
  return NULL;
}

// sha256New(): a new hash, as an external.
static napi_value sha256_new(napi_env env, napi_callback_info info) {
  (void)info;
  hasher *h = calloc(1, sizeof *h);
  if (!h) return fail(env, "out of memory");
  h->ctx = EVP_MD_CTX_new();
  if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(h->ctx);
    free(h);
    return fail(env, "OpenSSL could not start a sha256");
  }
  pthread_mutex_init(&h->lock, NULL);
  napi_value result;
  if (napi_create_external(env, h, hasher_free, NULL, &result) != napi_ok) {
    hasher_free(env, h, NULL);
    return fail(env, "could not make the hash's handle");
  }
  return result;
}

// On a pool thread: hashes what is queued, in order, until nothing is.
static void drain(napi_env env, void *data) {
  (void)env;
  hasher *h = ((task *)data)->h;
  pthread_mutex_lock(&h->lock);
  while (h->queued) {
    item *it = h->queued;
    h->queued = it->next;
    if (!h->queued) h->queued_tail = NULL;
    int skip = h->failed;
    pthread_mutex_unlock(&h->lock);
    int ok = skip || EVP_DigestUpdate(h->ctx, it->data, it->length) == 1;
    pthread_mutex_lock(&h->lock);
    if (!ok) h->failed = 1;
    it->next = h->hashed;
    h->hashed = it;
  }
  h->running = 0;
  pthread_mutex_unlock(&h->lock);
}

static void settle_digest(napi_env env, hasher *h);

static void release(napi_env env, item *list) {
  while (list) {
    item *next = list->next;
    napi_delete_reference(env, list->view);
    free(list);
    list = next;
  }
}

// After the last task's completion: answers the digest if it was asked for, lets the external go.
static void idle(napi_env env, hasher *h) {
  if (h->digest) settle_digest(env, h);
  napi_ref self = h->self;
  h->self = NULL;
  if (self) napi_delete_reference(env, self);
}

// On the JS thread, after a drain: releases the hashed views. A drain that ended may be followed by another task
// before this runs, and libuv may complete that one first: only the completion that brings `tasks` to 0 finds
// nothing left to hash (a running drain's completion is still to come).
static void drained(napi_env env, napi_status status, void *data) {
  task *t = data;
  hasher *h = t->h;
  pthread_mutex_lock(&h->lock);
  item *done = h->hashed;
  h->hashed = NULL;
  if (status != napi_ok) h->failed = 1;
  pthread_mutex_unlock(&h->lock);
  release(env, done);
  napi_delete_async_work(env, t->work);
  free(t);
  if (--h->tasks == 0) idle(env, h);
}

static int start_task(napi_env env, napi_value external, hasher *h) {
  task *t = calloc(1, sizeof *t);
  napi_value name;
  if (!t) return 0;
  t->h = h;
  napi_create_string_utf8(env, "wasmlet:sha256", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, drain, drained, t, &t->work) != napi_ok) {
    free(t);
    return 0;
  }
  if (h->tasks == 0 && napi_create_reference(env, external, 1, &h->self) != napi_ok) {
    napi_delete_async_work(env, t->work);
    free(t);
    return 0;
  }
  if (napi_queue_async_work(env, t->work) != napi_ok) {
    napi_delete_async_work(env, t->work);
    free(t);
    if (h->tasks == 0) idle(env, h);
    return 0;
  }
  h->tasks++;
  return 1;
}

// sha256Update(hash, view): queues the bytes of a Uint8Array (its memory may be shared) to be hashed on the pool,
// after those queued before. They must not change, nor their buffer be transferred, until the digest is done.
static napi_value sha256_update(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  hasher *h = open_hash(env, info, "sha256Update", 2, argv);
  if (!h) return NULL;
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *bytes = NULL;
  if (napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[1], &type, &length, &bytes, NULL, NULL) != napi_ok ||
      type != napi_uint8_array)
    return fail(env, "sha256Update: the bytes must be a Uint8Array");
  item *it = calloc(1, sizeof *it);
  if (!it) return fail(env, "out of memory");
  if (napi_create_reference(env, argv[1], 1, &it->view) != napi_ok) {
    free(it);
    return fail(env, "sha256Update: could not hold the bytes");
  }
  it->data = bytes;
  it->length = length;
  pthread_mutex_lock(&h->lock);
  if (h->queued_tail) h->queued_tail->next = it;
  else h->queued = it;
  h->queued_tail = it;
  int start = !h->running;
  if (start) h->running = 1;
  pthread_mutex_unlock(&h->lock);
  if (start && !start_task(env, argv[0], h)) {
    // Not reached in practice (N-API fails these only when out of memory): the hash is spoilt. No drain runs, so
    // the queue holds this update only (a drain empties it before it ends).
    pthread_mutex_lock(&h->lock);
    item *left = h->queued;
    h->queued = h->queued_tail = NULL;
    h->running = 0;
    h->failed = 1;
    pthread_mutex_unlock(&h->lock);
    release(env, left);
    return fail(env, "sha256Update: could not queue the update");
  }
  return NULL;
}

static void settle_digest(napi_env env, hasher *h) {
  napi_deferred deferred = h->digest;
  h->digest = NULL;
  napi_value value;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (h->failed || EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32) {
    napi_value message;
    napi_create_string_utf8(env, "OpenSSL's sha256 failed", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &value);
    napi_reject_deferred(env, deferred, value);
    return;
  }
  static const char hex[] = "0123456789abcdef";
  char out[64];
  for (unsigned int i = 0; i < n; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  napi_create_string_latin1(env, out, 64, &value);
  napi_resolve_deferred(env, deferred, value);
}

// sha256Digest(hash): a promise of the digest in lowercase hex, once every queued update is hashed.
static napi_value sha256_digest(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  hasher *h = open_hash(env, info, "sha256Digest", 1, argv);
  if (!h) return NULL;
  napi_value promise;
  if (napi_create_promise(env, &h->digest, &promise) != napi_ok) return fail(env, "sha256Digest: no promise");
  h->closed = 1;
  // Else the completion of the last task answers it.
  if (h->tasks == 0) settle_digest(env, h);
  return promise;
}

void register_sha256(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sha256New", NAPI_AUTO_LENGTH, sha256_new, NULL, &fn);
  napi_set_named_property(env, exports, "sha256New", fn);
  napi_create_function(env, "sha256Update", NAPI_AUTO_LENGTH, sha256_update, NULL, &fn);
  napi_set_named_property(env, exports, "sha256Update", fn);
  napi_create_function(env, "sha256Digest", NAPI_AUTO_LENGTH, sha256_digest, NULL, &fn);
  napi_set_named_property(env, exports, "sha256Digest", fn);
}
