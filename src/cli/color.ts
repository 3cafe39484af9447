// Colour only for a terminal: not into a pipe or a file, and never when NO_COLOR is set (any
// value, https://no-color.org) or TERM=dumb. (citty's own colours look at the environment only.)
export function useColor(stream: { isTTY?: boolean } = process.stdout, env = process.env): boolean {
  return (stream.isTTY ?? false) && !env.NO_COLOR && env.TERM !== "dumb";
}

export interface Paint {
  bold(s: string): string;
  dim(s: string): string;
  cyan(s: string): string;
}

const wrap = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;

export function paint(color: boolean): Paint {
  if (!color) return { bold: (s) => s, dim: (s) => s, cyan: (s) => s };
  return { bold: wrap(1, 22), dim: wrap(2, 22), cyan: wrap(36, 39) };
}
