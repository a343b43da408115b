import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { closeSync, fstatSync, openSync, readFileSync, writeSync } from "node:fs";
import { WasmletError } from "../core/index.js";
import type { SealedValue } from "../store/index.js";

/** The name of the key file `serve` creates in its data directory when no `--secret-key-file` is given. */
export const SECRET_KEY_FILE = "secret.key";

const KEY_BYTES = 32;
const IV_BYTES = 12;

/**
 * The server's secret key (AES-256-GCM): seals secret values before they reach the store and opens them for
 * the data plane. The key file holds 32 bytes, raw or as 64 hex digits or base64 (`openssl rand -hex 32`), and
 * must not be accessible to group or others. It is read on first use; `create` makes a missing one (mode 0600).
 */
export class SecretKey {
  #key: Buffer | undefined;
  #id = "";

  constructor(
    /** The key file's path. */
    readonly path: string,
    private readonly options: { create: boolean } = { create: false },
  ) {}

  /** Reads (or creates) the key file now, so that a bad one is reported at start; throws INVALID_ARGUMENT naming it. */
  load(): void {
    if (this.#key) return;
    this.#key = readKeyFile(this.path, this.options.create);
    this.#id = keyId(this.#key);
  }

  /** Encrypts `plain`, bound to `context` (e.g. `secret/db`): opening it under another context fails. */
  seal(plain: Uint8Array, context: string): SealedValue {
    this.load();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#key as Buffer, iv);
    cipher.setAAD(Buffer.from(context));
    const data = Buffer.concat([cipher.update(plain), cipher.final()]);
    return {
      alg: "aes-256-gcm",
      keyId: this.#id,
      iv: iv.toString("base64"),
      tag: cipher.getAuthTag().toString("base64"),
      data: data.toString("base64"),
    };
  }

  /** Decrypts what `seal` made under the same context; throws INTERNAL naming the cause (never the value). */
  open(sealed: SealedValue, context: string): Buffer {
    this.load();
    if (sealed.keyId !== this.#id)
      throw new WasmletError(
        "INTERNAL",
        `${context} was encrypted with another secret key (id ${sealed.keyId}; this server's key ${this.path} has id ${this.#id})`,
      );
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#key as Buffer, Buffer.from(sealed.iv, "base64"));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
      return Buffer.concat([decipher.update(Buffer.from(sealed.data, "base64")), decipher.final()]);
    } catch {
      throw new WasmletError("INTERNAL", `${context}: its encrypted data is damaged (authentication failed)`);
    }
  }
}

/** The first 16 hex digits of the key's SHA-256: names a key without revealing it. */
function keyId(key: Buffer): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 16);
}

function readKeyFile(path: string, create: boolean): Buffer {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT" || !create)
      throw new WasmletError("INVALID_ARGUMENT", `secret key file ${path}: ${(e as Error).message}`);
    return createKeyFile(path);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new WasmletError("INVALID_ARGUMENT", `secret key file ${path} is not a regular file`);
    if ((st.mode & 0o077) !== 0)
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `secret key file ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}); run chmod 600 ${path}`,
      );
    return decodeKey(readFileSync(fd), path);
  } finally {
    closeSync(fd);
  }
}

function createKeyFile(path: string): Buffer {
  const key = randomBytes(KEY_BYTES);
  let fd: number;
  try {
    // "wx": never replaces a key another process created meanwhile (that one is read instead).
    fd = openSync(path, "wx", 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return readKeyFile(path, false);
    throw new WasmletError("INVALID_ARGUMENT", `secret key file ${path}: ${(e as Error).message}`);
  }
  try {
    writeSync(fd, `${key.toString("hex")}\n`);
  } finally {
    closeSync(fd);
  }
  return key;
}

function decodeKey(raw: Buffer, path: string): Buffer {
  if (raw.length === KEY_BYTES) return raw;
  const text = raw.toString("latin1").trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, "hex");
  if (/^[A-Za-z0-9+/]{43}=?$/.test(text)) {
    const key = Buffer.from(text, "base64");
    if (key.length === KEY_BYTES) return key;
  }
  throw new WasmletError(
    "INVALID_ARGUMENT",
    `secret key file ${path} must hold a 32-byte key: 32 raw bytes, 64 hex digits or base64 (openssl rand -hex 32)`,
  );
}
