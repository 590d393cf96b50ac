#!/usr/bin/env node
// First: holds signals that come while the rest loads (see signals.ts).
import { defaultSignals } from './signals.js';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { exitCodeOf, SdlError } from '../errors.js';
import { machineDefinitions } from './machines.js';
import { applyHeapGrowth } from './heap.js';

const USAGE = `sdl — MySQL/MariaDB binlog → MongoDB, lossless

Usage: sdl <command> [--config FILE]

Commands:
  run        stream changes until SIGTERM/SIGINT (flushes, checkpoints, exits 0); a pipeline
             without a checkpoint first takes the initial snapshot
  snapshot   take the initial snapshot of a pipeline without a checkpoint, save the
             checkpoint at its position and exit (\`sdl run\` then streams from there);
             with --tables, have the running \`sdl run\` copy those tables again online
             while it streams, and wait until they are copied
  check      verify the source and target meet sdl's prerequisites
  status     ask the running instance (http.addr) for its live state: machines, lag, rows/s,
             the last error, the lease; when none answers, read MongoDB: checkpoint, snapshot
             progress, pending staged batches, dead letters, lease
  verify     compare every mirrored table with MySQL, a chunk at a time in key order, and
             report per table rows checked, missing, extra and different (with keys); while
             sdl runs, a difference counts only once the checkpoint has passed the row's
             read position. Exit 0 equal, 1 different
  replay     write the rows in dead_letters again, once what MongoDB refused is fixed
  machines   print the statechart definitions as JSON

Options:
  --config FILE   YAML or JSON configuration (SDL_* environment variables override it)
  --inspect[=URL] run: stream the live actor system to an XState inspector over WebSocket
                  (default ws://127.0.0.1:8080; nothing is sent unless this is given)
  --resnapshot    run, snapshot: drop the pipeline's checkpoint and copy every included table
                  again, then stream (the recovery when the binlog was purged past the
                  checkpoint; an interrupted re-snapshot resumes on a start without it)
  --json          status: the answer as JSON (\`source\` says whether the instance or MongoDB gave
                  it); verify: the report as JSON
  --tables LIST   verify: only these included tables (db.t,db.u); snapshot: the tables to
                  re-snapshot online
  --repair        verify: copy the differing keys again from MySQL (as the snapshot does,
                  position-guarded); exit 0 when every difference was repaired
  --help          this text

Exit codes: 0 clean stop, 1 runtime failure, 2 configuration or prerequisite error.
`;

/** `--inspect` alone means the inspector's usual local address. */
export const DEFAULT_INSPECT_URL = 'ws://127.0.0.1:8080';

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv.map((a) => (a === '--inspect' ? `--inspect=${DEFAULT_INSPECT_URL}` : a)),
    options: { config: { type: 'string', short: 'c' }, inspect: { type: 'string' }, help: { type: 'boolean', short: 'h' }, resnapshot: { type: 'boolean' }, json: { type: 'boolean' }, tables: { type: 'string' }, repair: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  const command = positionals[0];
  if (values.help === true || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && values.help !== true ? 2 : 0;
  }
  const config = (): Config => {
    const cfg = loadConfig(values.config);
    applyHeapGrowth(cfg.heapGrowthPercent);
    return cfg;
  };
  // `run` and `snapshot` take the signals over (flush, checkpoint); the rest end as usual.
  const tables = values.tables?.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (command !== 'run' && (command !== 'snapshot' || tables !== undefined)) defaultSignals();
  switch (command) {
    case 'machines':
      process.stdout.write(JSON.stringify(machineDefinitions(), null, 2) + '\n');
      return 0;
    case 'run': {
      const { run } = await import('./run.js');
      return run(config(), { resnapshot: values.resnapshot === true, ...(values.inspect === undefined ? {} : { inspectUrl: values.inspect }) });
    }
    case 'snapshot': {
      if (tables !== undefined) {
        const { tableSnapshotCommand } = await import('./table-snapshot.js');
        return tableSnapshotCommand(config(), tables);
      }
      const { run } = await import('./run.js');
      return run(config(), { resnapshot: values.resnapshot === true, snapshotOnly: true });
    }
    case 'check': {
      const { check } = await import('./check.js');
      return check(config());
    }
    case 'status': {
      const { status } = await import('./status.js');
      return status(config(), { json: values.json === true });
    }
    case 'verify': {
      const { verifyCommand } = await import('./verify.js');
      return verifyCommand(config(), { json: values.json === true, repair: values.repair === true, ...(tables !== undefined ? { tables } : {}) });
    }
    case 'replay': {
      const { replay } = await import('./replay.js');
      return replay(config());
    }
    default:
      process.stderr.write(`sdl: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything durable is done. A socket to a peer that vanished without a FIN (or a driver
    // that never releases one) must not keep a stopped daemon alive: give handles a moment, then go.
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (err: unknown) => {
    if (err instanceof ConfigError || (err instanceof SdlError && exitCodeOf(err.errorClass) === 2)) {
      process.stderr.write(`sdl: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      process.stderr.write(`sdl: ${err.message}\n\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`sdl: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof SdlError && err.hint !== undefined) process.stderr.write(`sdl: what to do: ${err.hint}\n`);
    process.exitCode = 1;
  },
);
