export { SECRET_KEY_FILE, SecretKey } from "./crypto.js";
export { openSecret, sealSecret, ValueResolver } from "./values.js";
