// `--help` for any command, from the same declarations the parser reads. Not citty's
// renderUsage (0.2.2): it writes a long alias as `-control-socket-path`, shows neither short
// names, repeatable flags nor environment variables, and colours by the environment alone
// (decided once, at import), so `--help | less` gets escape codes; this one asks color.ts.
import type { Command, Flag } from "./command.ts";
import { paint } from "./color.ts";

function flagLabel(name: string, f: Flag): string {
  if (f.type === "positional") return f.valueHint ?? name.toUpperCase();
  const names = [...(f.short ? [`-${f.short}`] : []), `--${name}`, ...(f.alias ?? []).map((a) => `--${a}`)];
  const hint = f.type === "boolean" ? "" : ` ${f.type === "enum" ? f.options.join("|") : (f.valueHint ?? "VALUE")}`;
  return names.join(", ") + hint;
}

function flagNotes(f: Flag): string {
  const notes: string[] = [];
  if (f.type !== "positional" && f.type !== "boolean") {
    if (f.required) notes.push("required");
    if (f.type === "string" && f.multiple === true) notes.push("repeatable");
    if ("default" in f && f.default !== undefined) notes.push(`default ${f.default}`);
    if (f.env) notes.push(`env ${f.env}`);
  }
  return notes.length > 0 ? ` (${notes.join("; ")})` : "";
}

export async function renderHelp(cmd: Command, path: string, color: boolean): Promise<string> {
  const p = paint(color);
  const args = Object.entries(cmd.args ?? {}).filter(([, f]) => !(f.type !== "positional" && f.hidden));
  const positionals = args.filter(([, f]) => f.type === "positional");
  const options = args.filter(([, f]) => f.type !== "positional");
  const subs: [string, Command][] = [];
  for (const [name, get] of Object.entries(cmd.subCommands ?? {})) {
    const sub = await get();
    if (!sub.meta.hidden) subs.push([name, sub]);
  }
  const usage = [
    path,
    ...(subs.length > 0 ? ["<command>"] : []),
    ...(options.length > 0 ? ["[options]"] : []),
    ...positionals.map(([n, f]) => {
      const l = flagLabel(n, f);
      return f.type === "positional" && f.required ? l : `[${l}]`;
    }),
  ].join(" ");
  const table = (rows: [string, string][]) => {
    const w = Math.max(...rows.map(([l]) => l.length));
    return rows.map(([l, d]) => `  ${p.cyan(l.padEnd(w))}  ${d}`).join("\n");
  };
  const out = [cmd.meta.description, "", `${p.bold("Usage:")} ${usage}`];
  if (positionals.length > 0)
    out.push("", p.bold("Arguments:"), table(positionals.map(([n, f]) => [flagLabel(n, f), f.description])));
  if (options.length > 0)
    out.push(
      "",
      p.bold("Options:"),
      table(options.map(([n, f]) => [flagLabel(n, f), `${f.description}${p.dim(flagNotes(f))}`])),
    );
  if (subs.length > 0) {
    out.push("", p.bold("Commands:"), table(subs.map(([n, s]) => [n, s.meta.description])));
    out.push("", `${path} <command> --help tells more about each.`);
  }
  if (cmd.meta.notes) out.push("", ...cmd.meta.notes);
  return `${out.join("\n")}\n`;
}
