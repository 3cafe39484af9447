// How every network-namespace test file declares its tests: one describe block that is skipped,
// with the reason in its title, where namespaces cannot be built (not root), instead of failing.
// Inside it, namespaces left by dead test runs are swept first, and every lab a test makes through
// `labs` is destroyed after that test, whether it passed or not.
import { afterEach, beforeAll, describe } from "bun:test";
import { chainLab, Lab, type LabOptions, type NsOptions, sweepStale } from "./lab.ts";

export const isRoot = process.getuid?.() === 0;

/** The labs of the test that runs now. */
export class Labs {
  private made: Lab[] = [];

  /** The brief's chain (gen -> relay -> sink): see chainLab. */
  chain(o: NsOptions = {}): Lab {
    return this.track(chainLab(o));
  }

  /** An empty lab, to build another topology in. */
  empty(o: LabOptions = {}): Lab {
    return this.track(new Lab(o));
  }

  async destroyAll(): Promise<void> {
    await Promise.all(this.made.splice(0).map((l) => l.destroy()));
  }

  private track(l: Lab): Lab {
    this.made.push(l);
    return l;
  }
}

/**
 * A describe block of namespace tests. Skipped when not root, or when `o.skip` gives another
 * reason (a missing tool); the reason is in the title that `bun test` prints.
 */
export function describeNetns(title: string, body: (labs: Labs) => void, o: { skip?: string } = {}): void {
  const reason = !isRoot ? "needs root: it builds network namespaces" : o.skip;
  describe.skipIf(reason !== undefined)(reason !== undefined ? `${title} [skipped: ${reason}]` : title, () => {
    const labs = new Labs();
    beforeAll(() => void sweepStale());
    afterEach(() => labs.destroyAll(), 30000);
    body(labs);
  });
}
