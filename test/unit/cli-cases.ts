// Wrong invocations of every command and what each must answer (exit 64, this message on stderr,
// nothing on stdout; "" marks a command group given without its command: its help on stderr).
// Run against the sources (test/unit/cli.test.ts) and against dist/mcr (test/netns/binary.test.ts).

export const add = [
  "rule",
  "add",
  "--input-group",
  "239.1.1.1",
  "--input-port",
  "5001",
  "--outputs",
  "239.10.10.10:6001:eth1",
];
/** Two legs and an output: a merge rule without its mode. */
export const merge = [
  "rule",
  "add",
  "--input",
  "eth0:239.1.1.1:5001",
  "--input",
  "eth1:239.2.1.1:5001",
  "--outputs",
  "239.10.10.10:6001:eth2",
];
export const withArg = (flag: string, value: string) => add.map((a, i) => (add[i - 1] === flag ? value : a));

/** nobody: a socket no supervisor listens on; neverSocket: one the supervisor must never create. */
export function wrongInvocations(nobody: string, neverSocket: string): [string[], string][] {
  const sock = ["--socket-path", nobody];
  const sup = ["supervisor", "--interface", "lo", "--control-socket-path", neverSocket];
  const see = (cmd: string) => `(see mcr ${cmd} --help)`;
  // Every command: an unknown flag, a flag it does not take, a missing value, a malformed value.
  const cases: [string[], string][] = [
    [[...add, "--dry-rn", ...sock], `mcr: unknown option --dry-rn: did you mean --dry-run? ${see("rule add")}`],
    [["rule", "list", "--interval", "1", ...sock], `mcr: unknown option --interval ${see("rule list")}`],
    [["rule", "list", "--jsn", ...sock], `mcr: unknown option --jsn: did you mean --json? ${see("rule list")}`],
    [["rule", "remove", "1", "2", ...sock], `mcr: unexpected argument "2" ${see("rule remove")}`],
    [["rule", "remove", ...sock], `mcr: missing NAME|ID ${see("rule remove")}`],
    [["rule", "remove", "1", "--json", ...sock], `mcr: unknown option --json ${see("rule remove")}`],
    [["rule", "add", "--input-group"], `mcr: --input-group needs a value (GROUP) ${see("rule add")}`],
    [
      ["rule", "add", "--input-group", "--input-port", "5001"],
      `mcr: --input-group needs a value (GROUP) ${see("rule add")}`,
    ],
    [
      [...withArg("--input-port", "abc"), ...sock],
      'mcr: --input-port: "abc" is not a port (use an integer from 1 to 65535)',
    ],
    [
      [...withArg("--input-port", "0x10"), ...sock],
      'mcr: --input-port: "0x10" is not a port (use an integer from 1 to 65535)',
    ],
    [[...add, "--ttl", "1e2", ...sock], 'mcr: --ttl: "1e2" is not a TTL (use an integer from 1 to 255)'],
    [[...add, "--json=yes", ...sock], `mcr: unknown option --json ${see("rule add")}`],
    // Merge rules (issue 14): malformed legs, settings and combinations never reach a supervisor.
    [
      [...merge, ...sock],
      "mcr: --merge: 2 inputs need a merge mode: rtp (the first copy of each RTP packet) or failover (one input at a time)",
    ],
    [[...merge, "--merge", "best", ...sock], 'mcr: --merge: unknown merge mode "best" (use rtp or failover)'],
    [
      [...merge, "--merge", "rtp", "--merge-window", "50", ...sock],
      'mcr: --merge-window: "50" is not a window: write a duration (10ms, 50ms, 450ms) or a count of packets (500pkts)',
    ],
    [
      [...merge, "--merge", "rtp", "--merge-window", "2s", ...sock],
      'mcr: --merge-window: "2s" is out of range (use from 1ms to 1s)',
    ],
    [
      [...merge, "--merge", "rtp", "--failover-after", "200ms", ...sock],
      "mcr: --failover-after: applies to --merge failover only, not to --merge rtp",
    ],
    [
      [...merge, "--merge", "failover", ...sock],
      "mcr: --failover-after: a failover merge needs it: how long the first input may be silent",
    ],
    [
      [...merge, "--merge", "failover", "--failover-after", "1m", ...sock],
      'mcr: --failover-after: "1m" is not a duration (write a number and ms or s, e.g. 200ms or 5s)',
    ],
    [
      [...merge, "--merge", "failover", "--failover-after", "200ms", "--merge-window", "10ms", ...sock],
      "mcr: --merge-window: applies to --merge rtp only, not to --merge failover",
    ],
    [
      ["rule", "add", "--input", "eth0:ff3e::1:5001", "--outputs", "239.10.10.10:6001:eth2", ...sock],
      'mcr: --input: "eth0:ff3e::1:5001" looks like an IPv6 group (write it in brackets, e.g. eth0:[ff3e::1]:5001)',
    ],
    [
      ["rule", "add", "--outputs", "239.10.10.10:6001:eth2", ...sock],
      "mcr: --input-group is required (GROUP), or give the input as --input IF:GROUP:PORT (see mcr rule add --help)",
    ],
    [["gen", "--legs", "2", "--dest", "239.1.1.1:5001"], "mcr: --legs 2: give one --dest per leg (1 given)"],
    [["gen", "--dest", "239.1.1.1:5001,239.2.1.1:5001", "--loss", "1%"], "mcr: --loss goes with --legs N"],
    [
      ["rule", "frob"],
      'mcr: unknown command "frob" (mcr rule takes a command: add, list, remove, replace, apply; see mcr rule --help)',
    ],
    [
      ["rule", "ad"],
      'mcr: unknown command "ad": did you mean add? (mcr rule takes a command: add, list, remove, replace, apply; see mcr rule --help)',
    ],
    [["stats", "--watch=1", ...sock], `mcr: --watch takes no value ${see("stats")}`],
    [["stats", "--intervl", "1", ...sock], `mcr: unknown option --intervl: did you mean --interval? ${see("stats")}`],
    [["stats", "--interval", ...sock], `mcr: --interval needs a value (SECONDS) ${see("stats")}`],
    [["stats", "--interval", "0x1", ...sock], 'mcr: --interval: "0x1" is not a number of seconds from 0 to 3600'],
    [
      ["stats", "--watch", "--interval", "0.01", ...sock],
      'mcr: --interval: "0.01" is not a number of seconds from 0.1 to 3600',
    ],
    [["stats", "-x", ...sock], `mcr: unknown option -x ${see("stats")}`],
    [[...sup, "--worker", "1"], `mcr: unknown option --worker: did you mean --workers? ${see("supervisor")}`],
    [
      [...sup, "--metrics-listn", ":9464"],
      `mcr: unknown option --metrics-listn: did you mean --metrics-listen? ${see("supervisor")}`,
    ],
    [[...sup, "--workers"], `mcr: --workers needs a value (N) ${see("supervisor")}`],
    [[...sup, "--workers", "two"], 'mcr: --workers: "two" is not an integer from 1 to 1024'],
    [[...sup, "--workers", "1.5"], 'mcr: --workers: "1.5" is not an integer from 1 to 1024'],
    [[...sup, "--ring-mb", "0"], 'mcr: --ring-mb: "0" is not an integer from 1 to 4096'],
    [
      [...sup, "--interface", "eth0:1"],
      'mcr: --interface: "eth0:1" is not an interface name (it has a character the kernel refuses (/, :, white space))',
    ],
    [
      [...sup, "--interface", "x".repeat(16)],
      `mcr: --interface: "${"x".repeat(16)}" is not an interface name (it is longer than 15 bytes)`,
    ],
    [
      [...sup, "--metrics-listen", "010.0.0.1:9464"],
      'mcr: --metrics-listen: "010.0.0.1:9464": "010.0.0.1" is not an IPv4 address',
    ],
    [[...sup, "--log-format", "xml"], 'mcr: --log-format: unknown log format "xml" (use text, logfmt or json)'],
    [[...sup, "--json"], `mcr: unknown option --json ${see("supervisor")}`],
    [[...sup, "eth0"], `mcr: unexpected argument "eth0" (mcr supervisor takes none; ${see("supervisor").slice(1)}`],
    [["config", "check"], `mcr: missing FILE ${see("config check")}`],
    [["config", "check", "a.toml", "--strict"], `mcr: unknown option --strict ${see("config check")}`],
    [["config"], ""],
    [["gen"], `mcr: --dest is required (GROUP:PORT) ${see("gen")}`],
    [["gen", "--dest", "010.1.1.1:5000"], 'mcr: --dest: "010.1.1.1:5000": "010.1.1.1" is not an IPv4 address'],
    [
      ["gen", "--dest", "239.1.1.1:5000", "--rate", "fast"],
      'mcr: --rate: "fast" is not a number from 0 to 1000000000 (k, M, G suffixes allowed)',
    ],
    [
      ["gen", "--dest", "239.1.1.1:5000", "--mode", "raw"],
      'mcr: --mode: unknown mode "raw" (use auto, socket or packet)',
    ],
    [
      ["gen", "--dest", "239.1.1.1:5000", "--sze", "64"],
      `mcr: unknown option --sze: did you mean --size? ${see("gen")}`,
    ],
    [
      ["gen", "--dest", "239.1.1.1:5000", "--count", "-5"],
      'mcr: --count: "-5" is not an integer of at least 1 (k, M, G suffixes allowed)',
    ],
    [["sink"], "mcr: --group: give --group GROUP:PORT or --listen [ADDR:]PORT"],
    [
      ["sink", "--group", "10.0.0.1:5000"],
      'mcr: --group: "10.0.0.1:5000": 10.0.0.1 is not a multicast group (224.0.0.0/4)',
    ],
    [
      ["sink", "--group", "239.1.1.1:5000", "--timeout", "0"],
      'mcr: --timeout: "0" is not a number of seconds more than 0',
    ],
    [
      ["sink", "--group", "239.1.1.1:5000", "--rcvbuf", "1k"],
      'mcr: --rcvbuf: "1k" is not a size in bytes (use an integer from 4096 to 2147483647)',
    ],
    [["sink", "--groups", "239.1.1.1:5000"], `mcr: unknown option --groups: did you mean --group? ${see("sink")}`],
    [["version", "--short"], `mcr: unknown option --short ${see("version")}`],
    [["-V", "x"], "mcr: -V takes nothing after it (see mcr --help)"],
    [
      ["--bogus"],
      "mcr: unknown option --bogus (mcr takes a command: supervisor, rule, stats, config, gen, sink, version; see mcr --help)",
    ],
    [
      ["supervsor"],
      'mcr: unknown command "supervsor": did you mean supervisor? (mcr takes a command: supervisor, rule, stats, config, gen, sink, version; see mcr --help)',
    ],
    [["worker", "--cpu", "x", "--interface", "lo"], 'mcr: --cpu: "x" is not an integer from -1 to 4095'],
    [["worker", "--cpu", "0"], `mcr: --interface is required ${see("worker")}`],
  ];
  return cases;
}
