// The seed's first function: a WASI command, as crun runs it in a pod (`hello.wasm 20000`).
// Prints "hello", then each argument on its own line.
#include <stdio.h>

int main(int argc, char **argv) {
  puts("hello");
  for (int i = 1; i < argc; i++) puts(argv[i]);
  return 0;
}
