// Launcher for the fauxqs SQS emulator (pinned in package.json), used by Hookline's test
// harness (package localstack) and for running a local SQS by hand.
//
//   node localstack/fauxqs.mjs --port 4566     # fixed port
//   node localstack/fauxqs.mjs --port 0        # any free port
//
// Differences from the `fauxqs` CLI:
//   - listens on 127.0.0.1 only (the CLI binds 0.0.0.0, exposing the emulator to the network);
//   - prints exactly one line on stdout once it accepts connections:
//       fauxqs listening on http://127.0.0.1:PORT
//     and nothing else on stdout (diagnostics go to stderr);
//   - exits 0 on SIGTERM/SIGINT, and when its stdin reaches end-of-file, so a test binary that is
//     killed (and so closes the pipe) never leaves an orphaned emulator behind. Pass
//     --ignore-stdin to keep it running with stdin redirected from /dev/null (background use).
//
// fauxqs keeps everything in memory: stopping it empties every queue.

import { buildApp } from "fauxqs";

const HOST = "127.0.0.1";

function usage(message) {
  if (message) process.stderr.write(`fauxqs.mjs: ${message}\n`);
  process.stderr.write("usage: node fauxqs.mjs --port N [--ignore-stdin]   (N = 0 picks a free port)\n");
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { port: undefined, watchStdin: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--port") {
      if (i + 1 >= argv.length) usage("--port needs a value");
      opts.port = argv[++i];
    } else if (arg.startsWith("--port=")) {
      opts.port = arg.slice("--port=".length);
    } else if (arg === "--ignore-stdin") {
      opts.watchStdin = false;
    } else if (arg === "-h" || arg === "--help") {
      usage();
    } else {
      usage(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  if (opts.port === undefined) usage("--port is required");
  if (!/^\d+$/.test(opts.port) || Number(opts.port) > 65535) {
    usage(`--port ${JSON.stringify(opts.port)}: want an integer in [0, 65535]`);
  }
  opts.port = Number(opts.port);
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// logger: false keeps stdout to the single ready line the harness parses.
const app = buildApp({ logger: false });

let stopping = false;
async function stop(why, code = 0) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`fauxqs.mjs: stopping (${why})\n`);
  try {
    await app.close();
  } catch (err) {
    process.stderr.write(`fauxqs.mjs: close: ${err?.stack ?? err}\n`);
    code = code || 1;
  }
  process.exit(code);
}

process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));

if (opts.watchStdin) {
  // The parent holds the write end of our stdin; end-of-file means it is gone.
  process.stdin.on("end", () => stop("stdin closed"));
  process.stdin.on("error", () => stop("stdin error"));
  process.stdin.resume();
}

try {
  const address = await app.listen({ host: HOST, port: opts.port });
  const port = new URL(address).port;
  process.stdout.write(`fauxqs listening on http://${HOST}:${port}\n`);
} catch (err) {
  process.stderr.write(`fauxqs.mjs: listen on ${HOST}:${opts.port}: ${err?.message ?? err}\n`);
  process.exit(1);
}
