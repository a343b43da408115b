import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { nextFires, parseSchedule, scheduleProblem } from "./cron.js";

const at = (iso: string) => new Date(iso);
const isoList = (ds: Date[]) => ds.map((d) => d.toISOString());

describe("parseSchedule", () => {
  // Local-time cron fields: the expectations are built with local-time Date constructors.
  const local = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) =>
    new Date(y, mo - 1, d, h, mi, s).toISOString();
  const from = new Date(2030, 0, 1, 10, 7, 30); // Tue 1 Jan 2030 10:07:30 local

  const valid: [string, string[]][] = [
    ["*/15 * * * *", [local(2030, 1, 1, 10, 15), local(2030, 1, 1, 10, 30)]],
    ["*/20 * * * * *", [local(2030, 1, 1, 10, 7, 40), local(2030, 1, 1, 10, 8, 0)]],
    ["0 9 * * 1-5", [local(2030, 1, 2, 9), local(2030, 1, 3, 9)]],
    ["@hourly", [local(2030, 1, 1, 11), local(2030, 1, 1, 12)]],
    ["@daily", [local(2030, 1, 2), local(2030, 1, 3)]],
    ["@monthly", [local(2030, 2, 1), local(2030, 3, 1)]],
    ["  @HOURLY ", [local(2030, 1, 1, 11), local(2030, 1, 1, 12)]],
  ];
  for (const [expr, expected] of valid)
    test(`"${expr}" fires at the expected times`, () => {
      assert.deepEqual(isoList(nextFires(parseSchedule(expr), 2, from)), expected);
    });

  test("@every fires on multiples of its span since the epoch, whatever the start", () => {
    const s = parseSchedule("@every 1m30s");
    assert.deepEqual(isoList(nextFires(s, 3, at("2030-01-01T00:00:10Z"))), [
      "2030-01-01T00:01:30.000Z",
      "2030-01-01T00:03:00.000Z",
      "2030-01-01T00:04:30.000Z",
    ]);
    // Strictly after: a due time itself gives the next one.
    assert.equal(s.next(at("2030-01-01T00:01:30Z"))?.toISOString(), "2030-01-01T00:03:00.000Z");
    assert.equal(
      parseSchedule("@every 1s").next(at("2030-01-01T00:00:00.400Z"))?.toISOString(),
      "2030-01-01T00:00:01.000Z",
    );
    assert.equal(
      parseSchedule("@every 2h").next(at("2030-01-01T01:00:00Z"))?.toISOString(),
      "2030-01-01T02:00:00.000Z",
    );
  });

  const refused: [string, RegExp][] = [
    ["0 0 0 1 1 * 2031", /7 fields \(a year field\)/],
    ["nonsense", /not a valid schedule/],
    ["* * * *", /not a valid schedule/],
    ["61 * * * *", /not a valid schedule.*minute/],
    ["0 0 30 2 *", /never fires/],
    ["@reboot", /not a valid schedule/],
    ["@every", /needs one span/],
    ["@every 500ms", /not like 90s/],
    ["@every 0s", /shorter than one second/],
    ["@every 1x", /not like 90s/],
    ["@every 9000h", /longer than a year/],
    ["", /is empty/],
  ];
  for (const [expr, why] of refused)
    test(`"${expr}" is refused with a message naming cron and the forms accepted`, () => {
      assert.throws(
        () => parseSchedule(expr),
        (e) =>
          isWasmletError(e, "INVALID_ARGUMENT") &&
          e.message.startsWith("cron: ") &&
          why.test(e.message) &&
          /5 fields.*@every 1m30s/.test(e.message),
      );
      assert.match(scheduleProblem(expr) ?? "", why);
    });

  test("scheduleProblem is undefined for a valid schedule", () => {
    assert.equal(scheduleProblem("@every 1m30s"), undefined);
    assert.equal(scheduleProblem("*/5 * * * * *"), undefined);
  });
});
