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

import { HOST, parseArgs, stopOnSignals } from "./launcher.mjs";

const opts = parseArgs("fauxqs.mjs", process.argv.slice(2));

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

stopOnSignals(stop, opts.watchStdin);

try {
  const address = await app.listen({ host: HOST, port: opts.port });
  const port = new URL(address).port;
  process.stdout.write(`fauxqs listening on http://${HOST}:${port}\n`);
} catch (err) {
  process.stderr.write(`fauxqs.mjs: listen on ${HOST}:${opts.port}: ${err?.message ?? err}\n`);
  process.exit(1);
}
