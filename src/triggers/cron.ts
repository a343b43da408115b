import { Cron } from "croner";
import { WasmletError } from "../core/index.js";

/** When a timer fires. Pure: the same expression and instant always give the same answer. */
export interface Schedule {
  /** The first fire time strictly after `after`, or undefined when the schedule never fires again. */
  next(after: Date): Date | undefined;
}

const HELP =
  'use 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, a descriptor (@hourly, @daily, @weekly, @monthly, @yearly) or "@every 1m30s"';

/** `@every` spans: at least a second; at most a year, which is what a descriptor can say too. */
const MIN_EVERY_MS = 1000;
const MAX_EVERY_MS = 366 * 24 * 3600 * 1000;
const EVERY_RE = /^@every\s+(\S+)$/i;
const SPAN_RE = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

class Invalid extends Error {}

function invalid(expr: string, why: string): Invalid {
  return new Invalid(`"${expr}" ${why}; ${HELP}`);
}

/**
 * Parses a timer's schedule; throws INVALID_ARGUMENT naming the field (`cron`) and the forms accepted. Cron fields
 * are croner's (5 or 6, in the server's time zone); `@every <span>` (h, m, s units) fires on the multiples of the
 * span since the Unix epoch, so its fire times do not depend on when the server started.
 */
export function parseSchedule(expr: string): Schedule {
  try {
    return compile(expr);
  } catch (e) {
    if (e instanceof Invalid) throw new WasmletError("INVALID_ARGUMENT", `cron: ${e.message}`);
    throw e;
  }
}

/** Why `expr` is not a schedule, or undefined when it is one (for schema refinements, which add the field). */
export function scheduleProblem(expr: string): string | undefined {
  try {
    compile(expr);
    return undefined;
  } catch (e) {
    if (e instanceof Invalid) return e.message;
    throw e;
  }
}

function compile(expr: string): Schedule {
  const text = expr.trim();
  if (text === "") throw invalid(expr, "is empty");
  const every = EVERY_RE.exec(text);
  if (every) return everySchedule(expr, every[1]);
  if (text.startsWith("@every")) throw invalid(expr, "needs one span such as 90s, 5m or 1h30m");
  const fields = text.split(/\s+/).length;
  if (!text.startsWith("@") && fields === 7)
    throw invalid(expr, "has 7 fields (a year field), which is not supported");
  let cron: Cron;
  try {
    cron = new Cron(text, { mode: "5-or-6-parts", paused: true });
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(/^CronPattern:\s*/, "");
    throw invalid(expr, `is not a valid schedule (${why})`);
  }
  if (cron.nextRun() === null) throw invalid(expr, "never fires");
  return {
    next(after) {
      return cron.nextRun(after) ?? undefined;
    },
  };
}

function everySchedule(expr: string, span: string): Schedule {
  const m = SPAN_RE.exec(span.toLowerCase());
  if (!m || span === "") throw invalid(expr, `has a span "${span}" that is not like 90s, 5m or 1h30m`);
  const [h, min, s] = [m[1], m[2], m[3]].map((x) => Number(x ?? 0));
  const ms = ((h * 60 + min) * 60 + s) * 1000;
  if (ms < MIN_EVERY_MS) throw invalid(expr, "is shorter than one second");
  if (ms > MAX_EVERY_MS) throw invalid(expr, "is longer than a year");
  return {
    next(after) {
      return new Date((Math.floor(after.getTime() / ms) + 1) * ms);
    },
  };
}

/** The next `count` fire times after `from` (`timer showschedule`). */
export function nextFires(schedule: Schedule, count: number, from = new Date()): Date[] {
  const out: Date[] = [];
  let t: Date | undefined = from;
  while (out.length < count) {
    t = schedule.next(t);
    if (!t) break;
    out.push(t);
  }
  return out;
}
