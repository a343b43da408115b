{
  "targets": [
    {
      "target_name": "malloc_tune",
      "sources": ["native/malloc-tune.c", "native/sha256-async.c", "native/populate.c"]
    }
  ]
}
