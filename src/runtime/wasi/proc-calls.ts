/** args, environ, clocks, random, poll_oneoff, proc_*, sched_yield and the sock_* stubs. */
import { webcrypto } from "node:crypto";
import {
  CLOCK_MONOTONIC,
  CLOCK_PROCESS_CPUTIME,
  CLOCK_REALTIME,
  CLOCK_THREAD_CPUTIME,
  ERRNO,
  EVENTTYPE_CLOCK,
  EVENTTYPE_FD_READ,
  EVENTTYPE_FD_WRITE,
  SIZE_EVENT,
  SIZE_SUBSCRIPTION,
  SUBCLOCKFLAGS_ABSTIME,
} from "./constants.js";
import type { EncodedStrings, WasiContext } from "./context.js";
import { FD_DIR, FD_FILE, FD_STDIN } from "./fd-table.js";
import { inBounds } from "./memory.js";
import { WasiExit } from "./wasi-exit.js";

export function stringsGet(
  ctx: WasiContext,
  strings: EncodedStrings,
  ptrsPtr: number,
  bufPtr: number,
): number {
  ptrsPtr >>>= 0;
  bufPtr >>>= 0;
  ctx.view();
  const { offsets, bytes } = strings;
  if (!inBounds(ctx, ptrsPtr, offsets.length * 4) || !inBounds(ctx, bufPtr, bytes.length)) return ERRNO.FAULT;
  for (let i = 0; i < offsets.length; i++) ctx.dv.setUint32(ptrsPtr + i * 4, bufPtr + offsets[i], true);
  ctx.u8.set(bytes, bufPtr);
  return ERRNO.SUCCESS;
}

/** Count and buffer size; the size is in UTF-8 bytes, each string's NUL included. */
export function stringsSizesGet(
  ctx: WasiContext,
  strings: EncodedStrings,
  countPtr: number,
  sizePtr: number,
): number {
  ctx.view();
  ctx.dv.setUint32(countPtr >>> 0, strings.offsets.length, true);
  ctx.dv.setUint32(sizePtr >>> 0, strings.bytes.length, true);
  return ERRNO.SUCCESS;
}

const REALTIME_OFFSET = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

/** Nanoseconds on clock `id`, or -1n for an unknown clock. CPU-time clocks are approximated by monotonic. */
function clockNow(id: number): bigint {
  switch (id) {
    case CLOCK_REALTIME:
      return process.hrtime.bigint() + REALTIME_OFFSET;
    case CLOCK_MONOTONIC:
    case CLOCK_PROCESS_CPUTIME:
    case CLOCK_THREAD_CPUTIME:
      return process.hrtime.bigint();
    default:
      return -1n;
  }
}

export function clockTimeGet(ctx: WasiContext, id: number, _precision: bigint, timePtr: number): number {
  const now = clockNow(id);
  if (now < 0n) return ERRNO.INVAL;
  ctx.view();
  ctx.dv.setBigUint64(timePtr >>> 0, now, true);
  return ERRNO.SUCCESS;
}

export function clockResGet(ctx: WasiContext, id: number, resPtr: number): number {
  if (clockNow(id) < 0n) return ERRNO.INVAL;
  ctx.view();
  ctx.dv.setBigUint64(resPtr >>> 0, 1000n, true);
  return ERRNO.SUCCESS;
}

const RANDOM_CHUNK = 65536; // getRandomValues refuses more per call

export function randomGet(ctx: WasiContext, buf: number, len: number): number {
  buf >>>= 0;
  len >>>= 0;
  ctx.view();
  if (!inBounds(ctx, buf, len)) return ERRNO.FAULT;
  for (let off = 0; off < len; off += RANDOM_CHUNK) {
    // ~0.1 ms per 64 KiB here: a guest asking for MiBs in a loop must still meet its budget and deadline.
    if (off > 0) ctx.control.checkpoint();
    webcrypto.getRandomValues(ctx.u8.subarray(buf + off, buf + Math.min(len, off + RANDOM_CHUNK)));
  }
  return ERRNO.SUCCESS;
}

/**
 * Answers fd subscriptions at once (every fd is always ready: stdin and files are in memory, writes never
 * block) and clock subscriptions whose time has come. With nothing ready it waits until the earliest clock
 * through the runner (`ctx.control.sleep`), which decides where waiting may happen (never on the request
 * thread) and ends the wait at the invocation's deadline; a wait longer than `maxSleepMs` returns early, which
 * nanosleep's callers must tolerate anyway.
 */
export function pollOneoff(
  ctx: WasiContext,
  inPtr: number,
  outPtr: number,
  nsubs: number,
  neventsPtr: number,
): number {
  inPtr >>>= 0;
  outPtr >>>= 0;
  nsubs >>>= 0;
  if (nsubs === 0) return ERRNO.INVAL;
  ctx.view();
  if (!inBounds(ctx, inPtr, nsubs * SIZE_SUBSCRIPTION) || !inBounds(ctx, outPtr, nsubs * SIZE_EVENT))
    return ERRNO.FAULT;
  let nevents = answer(ctx, inPtr, outPtr, nsubs, 0n);
  if (nevents === 0) {
    let earliest = -1n;
    for (let i = 0; i < nsubs; i++) {
      const wait = clockWait(ctx, inPtr + i * SIZE_SUBSCRIPTION, 0n);
      if (wait > 0n && (earliest < 0n || wait < earliest)) earliest = wait;
    }
    const ms = Math.min(Number(earliest) / 1e6, ctx.limits.maxSleepMs);
    const started = process.hrtime.bigint();
    ctx.control.sleep(ms);
    const slept = process.hrtime.bigint() - started;
    nevents = answer(ctx, inPtr, outPtr, nsubs, slept);
    // Cut short by maxSleepMs: report the earliest clock anyway, as if it had fired.
    if (nevents === 0) nevents = answer(ctx, inPtr, outPtr, nsubs, earliest);
  }
  ctx.dv.setUint32(neventsPtr >>> 0, nevents, true);
  return ERRNO.SUCCESS;
}

/** Writes an event for every ready subscription (clocks counted as `elapsed` ns later); returns how many. */
function answer(ctx: WasiContext, inPtr: number, outPtr: number, nsubs: number, elapsed: bigint): number {
  const dv = ctx.dv;
  let n = 0;
  for (let i = 0; i < nsubs; i++) {
    const sub = inPtr + i * SIZE_SUBSCRIPTION;
    const tag = dv.getUint8(sub + 8);
    let error: number = ERRNO.SUCCESS;
    let nbytes = 0;
    if (tag === EVENTTYPE_CLOCK) {
      const wait = clockWait(ctx, sub, elapsed);
      if (wait > 0n) continue;
      if (wait === INVALID_CLOCK) error = ERRNO.INVAL;
    } else if (tag === EVENTTYPE_FD_READ || tag === EVENTTYPE_FD_WRITE) {
      const entry = ctx.fds.get(dv.getUint32(sub + 16, true));
      if (entry === undefined) error = ERRNO.BADF;
      else if (tag === EVENTTYPE_FD_READ && entry.type === FD_STDIN) nbytes = ctx.stdin.length - entry.pos;
      else if (tag === EVENTTYPE_FD_READ && entry.type === FD_FILE) nbytes = entry.node!.size - entry.pos;
    } else {
      error = ERRNO.INVAL;
    }
    const ev = outPtr + n++ * SIZE_EVENT;
    ctx.u8.fill(0, ev, ev + SIZE_EVENT);
    dv.setBigUint64(ev, dv.getBigUint64(sub, true), true);
    dv.setUint16(ev + 8, error, true);
    dv.setUint8(ev + 10, tag);
    dv.setBigUint64(ev + 16, BigInt(Math.max(0, nbytes)), true);
  }
  return n;
}

const INVALID_CLOCK = -(1n << 70n);

/** Nanoseconds still to wait for a clock subscription, `elapsed` ns from now; INVALID_CLOCK for a bad id. */
function clockWait(ctx: WasiContext, sub: number, elapsed: bigint): bigint {
  const dv = ctx.dv;
  if (dv.getUint8(sub + 8) !== EVENTTYPE_CLOCK) return -1n;
  const id = dv.getUint32(sub + 16, true);
  const timeout = dv.getBigUint64(sub + 24, true);
  if (id > CLOCK_THREAD_CPUTIME) return INVALID_CLOCK;
  if ((dv.getUint16(sub + 40, true) & SUBCLOCKFLAGS_ABSTIME) === 0) return timeout - elapsed;
  const now = clockNow(id);
  return now < 0n ? INVALID_CLOCK : timeout - now;
}

export function procExit(code: number): never {
  throw new WasiExit(code >>> 0);
}

export function schedYield(): number {
  return ERRNO.SUCCESS;
}

/** proc_raise: no signals in this host. */
export function notImplemented(): number {
  return ERRNO.NOSYS;
}

/**
 * Every sock_* call: this host has no sockets, so no fd is one. The answer is what a host with sockets gives
 * for an fd that is not: EBADF when it is not open or is a directory (wasmtime keeps directories in another
 * table than files and sockets), ENOTSOCK for stdio and files.
 */
export function notSocket(ctx: WasiContext, fd: number): number {
  const entry = ctx.fds.get(fd);
  return entry === undefined || entry.type === FD_DIR ? ERRNO.BADF : ERRNO.NOTSOCK;
}
