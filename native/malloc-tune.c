// Fixes glibc's mmap threshold for the server process (see src/main/malloc-tune.ts for why). N-API, C only.
#include <malloc.h>
#include <node_api.h>

// tune(bytes): allocations of `bytes` or more get their own mapping, returned to the OS when freed. Setting it
// also turns off glibc's dynamic threshold, which otherwise rises to 32 MiB after the first big free.
static napi_value tune(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t bytes = 0;
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int64(env, argv[0], &bytes) != napi_ok || bytes <= 0 || bytes > (1 << 30))
    bytes = 0;
  napi_get_boolean(env, bytes > 0 && mallopt(M_MMAP_THRESHOLD, (int)bytes) == 1, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "tune", NAPI_AUTO_LENGTH, tune, NULL, &fn);
  napi_set_named_property(env, exports, "tune", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
