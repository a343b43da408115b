// A WAGI function: request metadata arrives in CGI variables, the body on stdin; the response is
// CGI headers, a blank line, then the body. Echoes what it was given.
#include <stdio.h>
#include <stdlib.h>

static const char *var(const char *name) {
  const char *v = getenv(name);
  return v ? v : "";
}

int main(void) {
  const char *greeting = getenv("GREETING");
  printf("Content-Type: text/plain; charset=utf-8\n\n");
  printf("%s from wasmlet\n", greeting ? greeting : "hello");
  printf("method: %s\npath: %s\nquery: %s\n", var("REQUEST_METHOD"), var("PATH_INFO"), var("QUERY_STRING"));
  printf("body: ");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) fwrite(buf, 1, n, stdout);
  printf("\n");
  return 0;
}
