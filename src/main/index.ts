export { formatHostPort, type HostPort, isLoopback, parseHostPort } from "./address.js";
export { deployExamples } from "./demo.js";
export { type EtcdFlags, etcdConnection, muteIpServernameWarning } from "./etcd-config.js";
export { type ServeConfig, type Serving, serve } from "./serve.js";
