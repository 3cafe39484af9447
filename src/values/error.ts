// The one error every value parser throws. The message says what is wrong with the value and does
// not name the field: each caller puts the field the way its input names it ("--workers: ...",
// "outputs[1].port", "mcr.toml:4: workers: ...") and sets its own exit code.
import { EX, McrError } from "../errors.ts";

export class ValueError extends McrError {
  constructor(field: string, message: string) {
    super(message, EX.USAGE, field, "invalid_value");
    this.name = "ValueError";
  }
}

/** A value as an error message shows it: strings quoted, numbers plain, anything else by kind. */
export function show(x: unknown): string {
  if (typeof x === "string") return JSON.stringify(x);
  if (typeof x === "number") return String(x);
  return kind(x);
}

export function kind(x: unknown): string {
  if (x === undefined) return "nothing";
  if (x === null) return "null";
  if (Array.isArray(x)) return "a list";
  return typeof x === "object" ? "an object" : `a ${typeof x}`;
}
