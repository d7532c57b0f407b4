// Launcher for the dynalite DynamoDB emulator (pinned in package.json), used by Hookline's test
// harness (package localstack) and for running a local DynamoDB by hand.
//
//   node localstack/dynalite.mjs --port 4567     # fixed port
//   node localstack/dynalite.mjs --port 0        # any free port
//
// Differences from the `dynalite` CLI:
//   - listens on 127.0.0.1 only (the CLI binds every interface);
//   - prints exactly one line on stdout once it accepts connections:
//       dynalite listening on http://127.0.0.1:PORT
//     and nothing else on stdout (diagnostics go to stderr);
//   - tables and indexes are ACTIVE (and deleted tables gone) at once instead of after 500 ms;
//   - exits 0 on SIGTERM/SIGINT, and when its stdin reaches end-of-file, so a test binary that is
//     killed (and so closes the pipe) never leaves an orphaned emulator behind. Pass
//     --ignore-stdin to keep it running with stdin redirected from /dev/null (background use).
//
// The store is in memory: stopping it forgets every table.

import dynalite from "dynalite";

import { HOST, parseArgs, stopOnSignals } from "./launcher.mjs";

const opts = parseArgs("dynalite.mjs", process.argv.slice(2));

const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });

// Nothing to flush (the store is in memory): exit at once, so that a stopped emulator refuses
// connections as soon as the harness has waited for it, even with clients' keep-alive
// connections open.
function stop(why) {
  process.stderr.write(`dynalite.mjs: stopping (${why})\n`);
  process.exit(0);
}

stopOnSignals(stop, opts.watchStdin);

server.on("error", (err) => {
  process.stderr.write(`dynalite.mjs: listen on ${HOST}:${opts.port}: ${err?.message ?? err}\n`);
  process.exit(1);
});

server.listen(opts.port, HOST, () => {
  const { port } = server.address();
  process.stdout.write(`dynalite listening on http://${HOST}:${port}\n`);
});
