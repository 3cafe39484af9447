// Interface names by the kernel's rules (dev_valid_name): 1 to 15 bytes (IFNAMSIZ 16 with its
// NUL), not "." or "..", no "/", ":" or white space.
import { kind, show, ValueError } from "./error.ts";

export const IFNAMSIZ = 16;

/** Why the text cannot be an interface name, or undefined if it can. */
export function ifNameProblem(name: string): string | undefined {
  if (name.length === 0) return "is empty";
  if (Buffer.byteLength(name) > IFNAMSIZ - 1) return `is longer than ${IFNAMSIZ - 1} bytes`;
  if (name === "." || name === "..") return "is not allowed";
  if (/[/:\s\0]/.test(name)) return "has a character the kernel refuses (/, :, white space)";
  return undefined;
}

export const isIfName = (x: unknown): x is string => typeof x === "string" && ifNameProblem(x) === undefined;

/** An interface name, or a ValueError naming the field. */
export function ifName(x: unknown, field: string): string {
  if (typeof x !== "string") throw new ValueError(field, `the interface must be a name such as eth0, got ${kind(x)}`);
  const problem = ifNameProblem(x);
  if (problem) throw new ValueError(field, `${show(x)} is not an interface name (it ${problem})`);
  return x;
}
