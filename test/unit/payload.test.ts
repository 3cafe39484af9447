import { describe, expect, test } from "bun:test";
import { decodePayload, encodePayload, fillerByte, HEADER_LEN, MAGIC, Status } from "../../src/tools/payload.ts";

const h = { stream: 3, seq: 0x0102030405060708n, sendNs: 1_700_000_000_123_456_789n, runId: 0xcafef00d, length: 64 };

describe("payload", () => {
  test("the header is laid out big-endian as documented", () => {
    const b = encodePayload(h);
    expect(b.length).toBe(64);
    expect([...b.subarray(0, 4)]).toEqual([0x4d, 0x43, 0x52, 0x31]); // "MCR1"
    expect([...b.subarray(4, 8)]).toEqual([0, 3, 0, 32]);
    expect([...b.subarray(8, 16)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const v = new DataView(b.buffer);
    expect(v.getBigUint64(16)).toBe(1_700_000_000_123_456_789n);
    expect(v.getUint32(24)).toBe(0xcafef00d);
    expect(v.getUint32(28)).toBe(64);
    expect(MAGIC).toBe(0x4d435231);
  });

  test("filler byte i is (seq + i) & 0xff", () => {
    const b = encodePayload(h);
    expect(b[32]).toBe((0x08 + 32) & 0xff);
    expect(b[63]).toBe((0x08 + 63) & 0xff);
    for (let i = HEADER_LEN; i < 64; i++) expect(b[i]).toBe(fillerByte(h.seq, i));
    expect(fillerByte(255n, 1)).toBe(0);
  });

  test("encode then decode gives the header back", () => {
    for (const length of [32, 33, 1024, 9000]) {
      const d = decodePayload(encodePayload({ ...h, length }));
      expect(d).toEqual({ status: Status.OK, ...h, length });
    }
  });

  test("a flipped filler byte is corrupt", () => {
    const b = encodePayload({ ...h, length: 1024 });
    b[700]! ^= 0x10;
    expect(decodePayload(b).status).toBe(Status.CORRUPT);
  });

  test("a changed sequence number makes the filler wrong", () => {
    const b = encodePayload({ ...h, length: 100 });
    b[15] = 0x09;
    expect(decodePayload(b).status).toBe(Status.CORRUPT);
  });

  test("a short or long datagram is truncated", () => {
    const b = encodePayload({ ...h, length: 100 });
    expect(decodePayload(b.subarray(0, 99)).status).toBe(Status.TRUNCATED);
    const longer = new Uint8Array(101);
    longer.set(b);
    expect(decodePayload(longer).status).toBe(Status.TRUNCATED);
  });

  test("foreign data: short, wrong magic, bad header length", () => {
    expect(decodePayload(new Uint8Array(31)).status).toBe(Status.FOREIGN);
    const b = encodePayload(h);
    b[0] = 0;
    expect(decodePayload(b).status).toBe(Status.FOREIGN);
    const c = encodePayload(h);
    c[7] = 16;
    expect(decodePayload(c).status).toBe(Status.FOREIGN);
  });

  test("sizes outside 32..65507 are refused", () => {
    expect(() => encodePayload({ ...h, length: 31 })).toThrow(RangeError);
    expect(() => encodePayload({ ...h, length: 65508 })).toThrow(RangeError);
  });
});
