// bun scripts/manpage.ts TEMPLATE VERSION > mcr.8: fills the COMMANDS section of the hand-written
// mcr(8) (packaging/man/mcr.8.in) from the citty command definitions, so the man page lists the
// flags the binary takes. @DATE@ comes from SOURCE_DATE_EPOCH when set (reproducible builds).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, loadCommands } from "./cli-defs.ts";

/** roff-safe text: backslashes doubled, hyphens of flags marked, no line starting with . or '. */
const roff = (s: string) =>
  s
    .replace(/\\/g, "\\e")
    .replace(/-/g, "\\-")
    .replace(/^([.'])/, "\\&$1");

function section(c: Command, path: string[]): string[] {
  const out: string[] = [];
  if (c.subcommands.length === 0 || c.flags.some((f) => f.name !== "help") || c.positionals.length > 0) {
    const synopsis = [
      ...c.positionals.map((p) => (p.required ? p.valueHint || p.name : `[${p.valueHint || p.name}]`)),
    ].join(" ");
    out.push(
      ".SS",
      `.B ${roff(["mcr", ...path].join(" "))}${synopsis ? `\n.I ${roff(synopsis)}` : ""}`,
      roff(c.description) + ".",
    );
    for (const f of c.flags) {
      if (f.name === "help") continue;
      const spell = [`--${f.name}`, ...f.aliases.map((a) => (a.length === 1 ? `-${a}` : `--${a}`))].join(", ");
      const value = f.takesValue ? ` \\fI${roff(f.valueHint || "VALUE")}\\fR` : "";
      out.push(".TP", `\\fB${roff(spell)}\\fR${value}`, roff(f.description) + (f.required ? " (required)" : ""));
    }
  }
  for (const s of c.subcommands) out.push(...section(s, [...path, s.name]));
  return out;
}

if (import.meta.main) {
  const [template, version] = process.argv.slice(2);
  if (!template || !version) {
    console.error("usage: bun scripts/manpage.ts TEMPLATE VERSION");
    process.exit(64);
  }
  const root = await loadCommands(join(import.meta.dir, "..", "src", "cli"));
  const when = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? Date.now() / 1000) * 1000);
  const commands = root.subcommands.flatMap((c) => section(c, [c.name])).join("\n");
  process.stdout.write(
    readFileSync(template, "utf8")
      .replace("@COMMANDS@", commands)
      .replace("@DATE@", when.toISOString().slice(0, 10))
      .replace("@VERSION@", version),
  );
}
