// workerd hands an imported `.wasm` module entry to the worker as a compiled WebAssembly.Module.
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
