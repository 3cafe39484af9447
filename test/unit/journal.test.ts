// What a killed worker left in its send journal is counted by the supervisor, once: sends it had
// submitted as sent, datagrams it had only queued as worker_died, each for its output.
import { expect, test } from "bun:test";
import {
  COUNTER,
  DROP_REASONS,
  JOURNAL,
  JOURNAL_LEN,
  OUTPUT_COUNTER as OC,
  RULE_COUNTER as RC,
} from "../../src/native/abi.ts";
import { initRegion, readCounters, regionBytes, settleJournal } from "../../src/stats/shared.ts";

const entry = (slot: number, len: number, submitted: boolean) =>
  (1n << BigInt(JOURNAL.VALID_BIT)) |
  (submitted ? 1n << BigInt(JOURNAL.SUBMITTED_BIT) : 0n) |
  (BigInt(slot) << BigInt(JOURNAL.SLOT_SHIFT)) |
  BigInt(len);

test("submitted sends count as sent, the rest as worker_died, then the journal is empty", () => {
  const r = initRegion(new Uint8Array(regionBytes(4, 4, 0)), 4, 4, 0);
  const start = COUNTER.DROPS + DROP_REASONS.length + 4 * RC.COUNT + 4 * OC.COUNT;
  const out = (slot: number) => COUNTER.DROPS + DROP_REASONS.length + 4 * RC.COUNT + slot * OC.COUNT;
  r.words[out(1) + OC.PACKETS] = 10n; // what the worker had counted itself
  r.words[start + 0] = entry(1, 100, true);
  r.words[start + 7] = entry(2, 300, false);
  r.words[start + JOURNAL_LEN - 1] = entry(1, 200, true);
  r.words[start + 9] = entry(99, 5, true); // a slot past the region: not counted
  r.words[start + 10] = (1n << BigInt(JOURNAL.SUBMITTED_BIT)) | 5n; // not in use: not counted

  expect(settleJournal(r)).toEqual({ sent: 2, lost: 1 });
  const c = readCounters(r, { rules: {}, outputs: { "1:0": 1, "2:0": 2, "3:0": 3 } });
  expect(c.outputs).toEqual({
    "1:0": { packets: 12, bytes: 300, errors: 0 },
    "2:0": { packets: 0, bytes: 0, errors: 1 },
    "3:0": { packets: 0, bytes: 0, errors: 0 },
  });
  expect({ tx: c.txPackets, bytes: c.txBytes, errors: c.txErrors, died: c.drops.worker_died }).toEqual({
    tx: 2,
    bytes: 300,
    errors: 1,
    died: 1,
  });
  r.words[start + 10] = 0n;
  expect(r.words.subarray(start, start + JOURNAL_LEN).every((e) => e === 0n)).toBe(true);
  // A second reading counts nothing again.
  expect(settleJournal(r)).toEqual({ sent: 0, lost: 0 });
});
