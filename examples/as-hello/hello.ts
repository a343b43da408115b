// A WASI command in AssemblyScript, built with @assemblyscript/wasi-shim so npm alone can rebuild it.
// Prints a greeting, then each argument, then the request body it read from stdin (if any).
console.log("hello from AssemblyScript");
const argv = process.argv;
for (let i = 1; i < argv.length; i++) console.log(argv[i]);

const chunk = new ArrayBuffer(4096);
let body = "";
for (;;) {
  const n = process.stdin.read(chunk);
  if (n <= 0) break;
  body += String.UTF8.decode(chunk.slice(0, n));
}
if (body.length > 0) console.log("body: " + body);
