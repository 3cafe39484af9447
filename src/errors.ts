// sysexits(3) codes: systemd and shells show them by name.
export const EX = {
  OK: 0,
  USAGE: 64, // the command line is wrong
  DATAERR: 65, // the input data (a rule, a config) is wrong
  NOINPUT: 66,
  UNAVAILABLE: 69, // a service (the supervisor) is not there
  SOFTWARE: 70, // an internal error
  OSERR: 71,
  CANTCREAT: 73,
  IOERR: 74,
  TEMPFAIL: 75,
  NOPERM: 77,
  CONFIG: 78,
} as const;

/** An error meant for the operator: a message, the field it is about, the exit code to leave with. */
export class McrError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EX.SOFTWARE,
    readonly field?: string,
    readonly code: string = "error",
  ) {
    super(message);
    this.name = "McrError";
  }
}
