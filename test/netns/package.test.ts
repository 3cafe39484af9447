// The Debian package (make deb): built from dist/mcr, unpacked with dpkg-deb -x and installed
// with dpkg into a scratch root (its maintainer scripts acting on that root through DPKG_ROOT),
// its files, conffile, user, unit, man pages and completions checked, its installed binary run;
// then removed and purged. lintian, when installed, must have nothing to say.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DIST, ROOT } from "../helpers/mcr.ts";

const have = (cmd: string) => Bun.spawnSync(["sh", "-c", `command -v ${cmd}`]).exitCode === 0;
const canBuild = existsSync(DIST) && have("dpkg-deb") && process.getuid?.() === 0;
if (!canBuild) console.warn("package.test: skipped: needs dist/mcr (make build), dpkg-deb and root");

function run(argv: string[], env: Record<string, string> = {}) {
  const p = Bun.spawnSync(argv, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

/** Every file and link the package holds, as dpkg lists them. */
const FILES = [
  "/etc/mcr/mcr.toml",
  "/usr/bin/mcr",
  "/usr/lib/systemd/system/mcr.service",
  "/usr/lib/sysusers.d/mcr.conf",
  "/usr/share/bash-completion/completions/mcr",
  "/usr/share/doc/mcr/changelog.gz",
  "/usr/share/doc/mcr/copyright",
  "/usr/share/fish/vendor_completions.d/mcr.fish",
  "/usr/share/lintian/overrides/mcr",
  "/usr/share/man/man5/mcr.toml.5.gz",
  "/usr/share/man/man8/mcr.8.gz",
  "/usr/share/mcr/grafana/mcr.json",
  "/usr/share/mcr/prometheus/mcr-alerts.yml",
  "/usr/share/zsh/vendor-completions/_mcr",
];

describe.skipIf(!canBuild)("the Debian package", () => {
  let dir = "";
  let deb = "";
  let root = ""; // dpkg --root
  const dpkg = (...args: string[]) =>
    run(["dpkg", `--root=${root}`, "--force-script-chrootless", "--force-depends", "--log=/dev/null", ...args]);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "mcr-deb-"));
    deb = join(dir, "mcr.deb");
    // gzip -1: seconds instead of minutes of xz on a loaded machine; the bytes inside are the same.
    const b = run(["bash", join(ROOT, "packaging/deb/build.sh"), deb], {
      BUN: process.execPath,
      DPKG_DEB_COMPRESSOR_TYPE: "gzip",
      DPKG_DEB_COMPRESSOR_LEVEL: "1",
    });
    if (b.code !== 0) throw new Error(`build.sh exited ${b.code}: ${b.err}`);
    root = join(dir, "root");
    for (const d of ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"]) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, "var/lib/dpkg/status"), "");
    writeFileSync(join(root, "var/lib/dpkg/available"), "");
  }, 120_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("its control fields: name, the version of package.json, this machine's architecture", () => {
    const field = (f: string) => run(["dpkg-deb", "-f", deb, f]).out.trim();
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    const arch = run(["dpkg", "--print-architecture"]).out.trim();
    expect([field("Package"), field("Version"), field("Architecture")]).toEqual(["mcr", pkg.version, arch]);
    expect(run(["dpkg-deb", "-f", deb, "Depends"]).out.trim()).toBe("libc6");
  });

  test("dpkg-deb -x: the files, their modes and owners; the binary runs from there", () => {
    const x = join(dir, "x");
    expect(run(["dpkg-deb", "-x", deb, x]).code).toBe(0);
    const listing = run(["dpkg-deb", "-c", deb])
      .out.trim()
      .split("\n")
      .map((l) => l.split(/\s+/));
    const files = listing.filter((l) => !l[0]!.startsWith("d")).map((l) => [l[5]!.slice(1), l[0], l[1]]);
    expect(files.map((f) => f[0]).sort()).toEqual(FILES);
    for (const [path, mode, owner] of files)
      expect({ path, mode, owner }).toEqual({
        path,
        mode: path === "/usr/bin/mcr" ? "-rwxr-xr-x" : "-rw-r--r--",
        owner: "root/root",
      });
    expect(listing.filter((l) => l[0]!.startsWith("d")).every((l) => l[0] === "drwxr-xr-x")).toBe(true);
    // The very bytes of dist/mcr.
    expect(Bun.hash(readFileSync(join(x, "usr/bin/mcr")))).toBe(Bun.hash(readFileSync(DIST)));
    const help = run([join(x, "usr/bin/mcr"), "--help"], { NO_COLOR: "1" });
    expect(help.code).toBe(0);
    expect(help.out).toContain("supervisor");
  });

  test("dpkg --root: installed with its conffile and the user mcr, in that root only", () => {
    const hostPasswd = readFileSync("/etc/passwd", "utf8");
    const i = dpkg("-i", deb);
    expect({ code: i.code, err: i.err }).toEqual({ code: 0, err: expect.any(String) });
    const listed = dpkg("-L", "mcr").out.trim().split("\n");
    for (const f of FILES) expect(listed).toContain(f);
    const status = run([
      "dpkg-query",
      `--admindir=${root}/var/lib/dpkg`,
      "-W",
      `-f=\${Status}\n\${Conffiles}\n`,
      "mcr",
    ]);
    const [state, ...conffiles] = status.out.trim().split("\n");
    expect(state).toBe("install ok installed");
    const md5 = new Bun.CryptoHasher("md5").update(readFileSync(join(ROOT, "packaging/etc/mcr.toml"))).digest("hex");
    expect(conffiles.map((c) => c.trim())).toEqual([`/etc/mcr/mcr.toml ${md5}`]);
    // postinst made the user in the scratch root, and left the host's alone.
    const passwd = readFileSync(join(root, "etc/passwd"), "utf8");
    expect(passwd).toMatch(/^mcr:x:\d+:\d+:mcr multicast relay:\/var\/lib\/mcr:\/usr\/sbin\/nologin$/m);
    expect(readFileSync(join(root, "etc/group"), "utf8")).toMatch(/^mcr:x:\d+:/m);
    expect(readFileSync("/etc/passwd", "utf8")).toBe(hostPasswd);
  });

  test("the installed binary: --help, and config check of the example /etc/mcr/mcr.toml", () => {
    const mcr = join(root, "usr/bin/mcr");
    const help = run([mcr, "--help"], { NO_COLOR: "1" });
    expect(help.code).toBe(0);
    for (const c of ["supervisor", "rule", "stats", "config"]) expect(help.out).toContain(c);
    const conf = join(root, "etc/mcr/mcr.toml");
    const check = run([mcr, "config", "check", conf]);
    expect({ code: check.code, out: check.out.trim() }).toEqual({
      code: 0,
      out: `${conf}: ok, 0 rule(s), interfaces eth0`,
    });
    // The example's commented rule, uncommented, is a valid rule too.
    const withRule = join(dir, "with-rule.toml");
    writeFileSync(
      withRule,
      readFileSync(conf, "utf8").replace(/^# (\[\[rule\]\]|input_group|input_port|outputs)/gm, "$1"),
    );
    const c2 = run([mcr, "config", "check", withRule]);
    expect({ code: c2.code, out: c2.out.trim() }).toEqual({
      code: 0,
      out: `${withRule}: ok, 1 rule(s), interfaces eth0`,
    });
  });

  test("the unit: systemd-analyze verify accepts it, its man pages found", () => {
    if (!have("systemd-analyze")) return console.warn("package.test: no systemd-analyze: unit not verified");
    const unit = join(dir, "mcr.service");
    const text = readFileSync(join(root, "usr/lib/systemd/system/mcr.service"), "utf8");
    for (const k of [
      "Type=notify",
      "ExecStartPre=/usr/bin/mcr config check /etc/mcr/mcr.toml",
      "ExecReload=/usr/bin/mcr config check /etc/mcr/mcr.toml",
      "ExecReload=/bin/kill -HUP $MAINPID",
    ])
      expect(text.split("\n")).toContain(k);
    expect(text.split("\n")).toContain("WatchdogSec=30s"); // the supervisor feeds it (issue 15, item 2)
    // The binary where the scratch root has it; man: links looked up in its man pages.
    writeFileSync(unit, text.replaceAll("/usr/bin/mcr", join(root, "usr/bin/mcr")));
    const v = run(["systemd-analyze", "verify", unit], { MANPATH: join(root, "usr/share/man") });
    expect({ code: v.code, err: v.err }).toEqual({ code: 0, err: "" });
  });

  test("the man pages render without a warning, and say what they must", () => {
    if (!have("man")) return console.warn("package.test: no man: man pages not rendered");
    for (const [page, must] of [
      ["man8/mcr.8.gz", ["EXIT STATUS", "SIGNALS", "FILES", "EXAMPLES", "--metrics-listen", "78"]],
      ["man5/mcr.toml.5.gz", ["metrics_listen", "RELOAD", "EXAMPLE"]],
    ] as const) {
      const m = run(["man", "--warnings", "-l", "-Tutf8", join(root, "usr/share/man", page)], {
        MANWIDTH: "100",
        MAN_KEEP_FORMATTING: "",
      });
      expect({ page, code: m.code, err: m.err }).toEqual({ page, code: 0, err: "" });
      const plain = m.out.replace(/.\x08/g, "").replace(/‐/g, "-");
      for (const s of must) expect({ page, s, found: plain.includes(s) }).toEqual({ page, s, found: true });
    }
  });

  test("completions: bash offers subcommands and flags; zsh and fish parse, fish completes (where installed)", () => {
    const script = join(root, "usr/share/bash-completion/completions/mcr");
    const complete = (...words: string[]) => {
      const r = run([
        "bash",
        "-c",
        `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _mcr; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ]);
      expect(r.err).toBe("");
      return r.out.trim().split("\n").sort();
    };
    expect(complete("mcr", "")).toEqual([
      "--help",
      "--version",
      "-h",
      "config",
      "gen",
      "rule",
      "sink",
      "stats",
      "supervisor",
      "version",
    ]);
    expect(complete("mcr", "rule", "")).toEqual(["--help", "-h", "add", "apply", "list", "remove", "replace"]);
    expect(complete("mcr", "rule", "add", "--input-")).toEqual([
      "--input-group",
      "--input-interface",
      "--input-port",
      "--input-source",
      "--input-vlan",
    ]);
    expect(complete("mcr", "supervisor", "--metrics")).toEqual(["--metrics-listen"]);
    // The hidden internal command is not offered.
    expect(complete("mcr", "wor")).toEqual([""]);
    for (const shell of ["zsh", "fish"] as const) {
      if (!have(shell)) continue;
      const file =
        shell === "zsh" ? "usr/share/zsh/vendor-completions/_mcr" : "usr/share/fish/vendor_completions.d/mcr.fish";
      const r = run(shell === "zsh" ? ["zsh", "-n", join(root, file)] : ["fish", "--no-execute", join(root, file)]);
      expect({ shell, code: r.code, err: r.err }).toEqual({ shell, code: 0, err: "" });
      if (shell === "fish") {
        const c = run(["fish", "-c", `source ${join(root, file)}; complete -C "mcr rule add --input-"`]);
        expect(
          c.out
            .trim()
            .split("\n")
            .map((l) => l.split("\t")[0])
            .sort(),
        ).toEqual(["--input-group", "--input-interface", "--input-port", "--input-source", "--input-vlan"]);
      }
    }
  });

  test("lintian has nothing to say (each deliberate tag overridden, explained in packaging/README.md)", () => {
    if (!have("lintian")) return console.warn("package.test: lintian is not installed: not run");
    const l = run(["lintian", "--pedantic", "--allow-root", deb]);
    expect({ code: l.code, tags: l.out.trim() }).toEqual({ code: 0, tags: "" });
  }, 120_000);

  test("dpkg -r keeps the changed conffile, --purge removes it and the state", () => {
    const conf = join(root, "etc/mcr/mcr.toml");
    writeFileSync(conf, `${readFileSync(conf, "utf8")}\nlog_level = "debug"\n`);
    mkdirSync(join(root, "var/lib/mcr"), { recursive: true });
    writeFileSync(join(root, "var/lib/mcr/rules.json"), "[]");
    expect(dpkg("-r", "mcr").code).toBe(0);
    expect(existsSync(join(root, "usr/bin/mcr"))).toBe(false);
    expect(readFileSync(conf, "utf8")).toContain('log_level = "debug"');
    expect(dpkg("--purge", "mcr").code).toBe(0);
    expect([existsSync(conf), existsSync(join(root, "var/lib/mcr"))]).toEqual([false, false]);
  });
});
