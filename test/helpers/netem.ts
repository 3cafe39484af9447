// A wire's delay for the tests that need one (tc netem), and whether this kernel can give it.
import { type Lab, sh } from "./lab.ts";

/** Whether this kernel has netem (sch_netem), tried in a network namespace of its own. */
export const HAVE_NETEM =
  sh(["unshare", "-n", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]).code === 0;

/** Delays what `iface` in `role` sends by `ms` (room for a burst queued meanwhile); tc's result. */
export const delaySends = (lab: Lab, role: string, iface: string, ms: number) =>
  lab.exec(role, ["tc", "qdisc", "add", "dev", iface, "root", "netem", "delay", `${ms}ms`, "limit", "100000"]);
