// Starts `onestop demo` on a free port with a fresh SQLite database in a
// temporary folder, and hands back its base URL and a stop() function.
//
// Contract with the app: `onestop demo --listen 127.0.0.1:0 --database URL
// --no-simulate` prints a line matching `listening on (http://\S+)` once it
// accepts connections.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.ONESTOP_BIN || path.join(ROOT, 'target', 'debug', 'onestop');

const STARTUP_TIMEOUT_MS = Number(process.env.ONESTOP_STARTUP_TIMEOUT_MS || 60_000);
const LISTENING = /listening on (http:\/\/\S+)/;
// tracing may colour its output; strip ANSI escapes before matching.
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

const running = new Set();

/** Signals the child's whole process group (it is spawned detached). */
function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    try { child.kill(signal); } catch { /* already gone */ }
  }
}

process.on('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL');
});

/**
 * @returns {Promise<{ baseURL: string, stop: () => Promise<void>, output: () => string }>}
 */
export async function startServer({ extraArgs = [] } = {}) {
  if (!existsSync(BIN)) {
    throw new Error(`onestop binary not found at ${BIN}; run \`cargo build -p onestop\` first`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'onestop-browser-'));
  const dbURL = `sqlite://${path.join(dir, 'demo.db')}`;
  const args = ['demo', '--listen', '127.0.0.1:0', '--database', dbURL, '--no-simulate', ...extraArgs];
  const child = spawn(BIN, args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group, so that stop() also ends anything the app started.
    detached: true,
    env: { ...process.env, NO_COLOR: '1', CLICOLOR: '0' },
  });
  running.add(child);

  let stdout = '';
  let stderr = '';
  const output = () =>
    `$ ${BIN} ${args.join(' ')}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;

  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });

  const baseURL = await new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      fn(value);
    };
    const scan = () => {
      // Contract: the line is on stdout; also accept stderr, where a logger may write.
      const m = (stdout + '\n' + stderr).replace(ANSI, '').match(LISTENING);
      if (m) finish(resolve, m[1].replace(/\/+$/, ''));
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk) => { stdout += chunk; scan(); });
    child.stderr.on('data', (chunk) => { stderr += chunk; scan(); });
    child.once('error', (err) => finish(reject, new Error(`could not start ${BIN}: ${err.message}\n${output()}`)));
    exited.then(({ code, signal }) =>
      finish(reject, new Error(`onestop demo exited early (code ${code}, signal ${signal})\n${output()}`)));
    const timer = setTimeout(() => {
      killGroup(child, 'SIGKILL');
      finish(reject, new Error(`onestop demo did not print "listening on http://..." within ${STARTUP_TIMEOUT_MS} ms\n${output()}`));
    }, STARTUP_TIMEOUT_MS);
  }).catch(async (err) => {
    killGroup(child, 'SIGKILL');
    if (child.pid !== undefined) await exited;
    child.stdout.destroy();
    child.stderr.destroy();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });

  let stopped = null;
  const stop = () => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        killGroup(child, 'SIGTERM');
        const killer = setTimeout(() => killGroup(child, 'SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      killGroup(child, 'SIGKILL'); // any straggler in the group
      child.stdout.destroy();
      child.stderr.destroy();
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  return { baseURL, stop, output };
}
