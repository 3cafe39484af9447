// Deterministic test payloads: the receiver can check each byte without being told what was sent.
export function payloadFor(seed: number, seq: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  if (size >= 8) {
    v.setUint32(0, seed >>> 0);
    v.setUint32(4, seq >>> 0);
  }
  let x = (seed * 2654435761 + seq * 40503 + 1) >>> 0;
  for (let i = 8; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}
