// What the emulator launchers (fauxqs.mjs, dynalite.mjs) share: their command line
// (`--port N [--ignore-stdin]`, N = 0 picks a free port) and stopping when the parent is gone.

export const HOST = "127.0.0.1";

function usage(name, message) {
  if (message) process.stderr.write(`${name}: ${message}\n`);
  process.stderr.write(`usage: node ${name} --port N [--ignore-stdin]   (N = 0 picks a free port)\n`);
  process.exit(2);
}

// parseArgs returns {port, watchStdin}, or exits 2 with the usage.
export function parseArgs(name, argv) {
  const opts = { port: undefined, watchStdin: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--port") {
      if (i + 1 >= argv.length) usage(name, "--port needs a value");
      opts.port = argv[++i];
    } else if (arg.startsWith("--port=")) {
      opts.port = arg.slice("--port=".length);
    } else if (arg === "--ignore-stdin") {
      opts.watchStdin = false;
    } else if (arg === "-h" || arg === "--help") {
      usage(name);
    } else {
      usage(name, `unknown argument ${JSON.stringify(arg)}`);
    }
  }
  if (opts.port === undefined) usage(name, "--port is required");
  if (!/^\d+$/.test(opts.port) || Number(opts.port) > 65535) {
    usage(name, `--port ${JSON.stringify(opts.port)}: want an integer in [0, 65535]`);
  }
  opts.port = Number(opts.port);
  return opts;
}

// stopOnSignals calls stop(why) on SIGTERM and SIGINT and, with watchStdin, when stdin reaches
// end-of-file: the parent holds its write end, so end-of-file means the parent is gone.
export function stopOnSignals(stop, watchStdin) {
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  if (watchStdin) {
    process.stdin.on("end", () => stop("stdin closed"));
    process.stdin.on("error", () => stop("stdin error"));
    process.stdin.resume();
  }
}
