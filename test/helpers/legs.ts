// What `mcr gen --legs N --loss P% --seed S` drops, computed again from the seed, independently of
// the sender (shim/tools/udp_tx.c): for tests that must know exactly which packets each leg lost
// (and so which no leg carried, what a merge of the legs cannot recover).

/** Which packets leg `leg` drops: splitmix64 from (seed << 8 | leg), one draw per packet. */
export function legDrops(seed: number, leg: number, lossPpm: number, count: number): boolean[] {
  const M = (1n << 64n) - 1n;
  let x = ((BigInt(seed) << 8n) | BigInt(leg)) & M;
  const thresh = (BigInt(lossPpm) << 32n) / 1_000_000n;
  const out: boolean[] = [];
  for (let i = 0; i < count; i++) {
    x = (x + 0x9e3779b97f4a7c15n) & M;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
    z ^= z >> 31n;
    out.push(z >> 32n < thresh);
  }
  return out;
}

/** Packets no leg carried: dropped on every one of `legs`. */
export function lostOnAll(legs: boolean[][]): number {
  const n = legs[0]?.length ?? 0;
  let lost = 0;
  for (let i = 0; i < n; i++) if (legs.every((d) => d[i])) lost++;
  return lost;
}
