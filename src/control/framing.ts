// Newline-delimited messages with a size bound, for a byte stream that may split or join them
// anywhere. A line over the bound is reported once and skipped up to its newline, so one bad
// client message costs one error reply, never the connection.

export class LineFramer {
  private parts: Uint8Array[] = [];
  private size = 0;
  private discarding = false;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onOversize: () => void,
  ) {}

  push(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      const end = nl < 0 ? chunk.length : nl;
      if (this.discarding) {
        if (nl >= 0) this.discarding = false;
      } else if (this.size + (end - pos) > this.maxBytes) {
        this.reset();
        this.onOversize();
        this.discarding = nl < 0; // the rest of the line is still to come
      } else if (nl < 0) {
        // Copy: Bun reuses the chunk's buffer for the next read.
        this.parts.push(chunk.slice(pos, end));
        this.size += end - pos;
      } else {
        const line = this.take(chunk.subarray(pos, end));
        const text = line.endsWith("\r") ? line.slice(0, -1) : line;
        if (text.trim() !== "") this.onLine(text);
      }
      pos = nl < 0 ? chunk.length : nl + 1;
    }
  }

  private take(last: Uint8Array): string {
    if (this.parts.length === 0) return this.decoder.decode(last);
    const all = new Uint8Array(this.size + last.length);
    let off = 0;
    for (const p of this.parts) {
      all.set(p, off);
      off += p.length;
    }
    all.set(last, off);
    this.reset();
    return this.decoder.decode(all);
  }

  private reset(): void {
    this.parts = [];
    this.size = 0;
  }
}
