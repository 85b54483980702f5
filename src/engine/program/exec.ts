// `myikev2 exec -f SETUP`: load the setup file, start the API and the engine,
// run until `runningtime` is over or a stop (API, SIGINT/SIGTERM), print the
// summary and return the exit code.
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import v8 from 'node:v8';
import { basename, extname, join } from 'node:path';
import { loadSetupFile } from '../../model/setup.js';
import { MyikeError, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from '../../errors.js';
import { unixSocketAnswers } from '../../unix-socket.js';
import { EngineRuntime } from './runtime.js';
import { ApiServer } from '../api/server.js';
import { formatSummary } from './summary.js';

export const ENGINE_RUN_ROOT = '/run/myikev2/engine';

export interface ExecOptions {
  file: string;
  json: boolean;
  runDir?: string;
  /** Skip the TCP listener (e.g. several engines in one namespace). */
  noTcp?: boolean;
  /** The interface's addresses and staticroute are set already (by `myikev2 run`): neither add nor remove them. */
  noNetconf?: boolean;
  out?: (text: string) => void;
}

export function defaultRunDir(file: string): string {
  return join(ENGINE_RUN_ROOT, basename(file, extname(file)));
}

export const API_SOCKET = 'api.sock';

/**
 * Thousands of small long-lived SAs: a young generation of 4 MB (V8's default
 * grows to 16 MB per semi-space) keeps ~20 KB per tunnel of RSS away at a
 * few percent of setup rate (measured with bench/engine-tunnels.ts).
 */
function smallYoungGeneration(): void {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes('semi-space'));
  if (!given) v8.setFlagsFromString('--max-semi-space-size=4');
}

export async function execEngine(o: ExecOptions): Promise<number> {
  smallYoungGeneration();
  const setup = await loadSetupFile(o.file);
  const runDir = o.runDir ?? defaultRunDir(o.file);
  // The directory may be one of the user's (--run-dir .): at the end only what the engine made there goes.
  const made = await mkdir(runDir, { recursive: true, mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    throw new MyikeError('E_RUN_DIR', `cannot make the run directory "${runDir}": ${err.code ?? err.message}`, {
      cause: err,
      hint: 'give --run-dir a directory that can be made (or leave it out for the default)',
      exitCode: EXIT_USAGE,
    });
  });
  const rt = new EngineRuntime({ setup, skipNetconf: o.noNetconf });
  const api = new ApiServer(rt);
  const sock = join(runDir, API_SOCKET);
  if (await unixSocketAnswers(sock))
    throw new MyikeError('E_RUN_DIR_BUSY', `another engine is running with the run directory ${runDir}`, {
      hint: 'give this instance its own --run-dir (the default is derived from the setup file name)',
      exitCode: EXIT_USAGE,
    });
  try {
    await api.listenUnix(sock);
    if (!o.noTcp) {
      try {
        await api.listenTcp(setup.apilistenaddr, setup.apilistenport);
      } catch (err) {
        throw new MyikeError('E_API_LISTEN', `cannot listen on ${setup.apilistenaddr}:${setup.apilistenport}: ${(err as Error).message}`, {
          hint: 'another instance uses that port in this namespace: set apilistenport, or run with --no-tcp',
        });
      }
    }
    await writeFile(join(runDir, 'engine.pid'), `${process.pid}\n`);
    let signals = 0;
    const onSignal = () => void rt.stop(++signals > 1 ? 'hard' : 'graceful', 'signal');
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await rt.start();
      rt.log(3, `API on ${sock}${o.noTcp ? '' : ` and ${setup.apilistenaddr}:${setup.apilistenport}`}`);
      await rt.stopped;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  } finally {
    await api.close();
    await Promise.all([API_SOCKET, 'engine.pid'].map((f) => rm(join(runDir, f), { force: true })));
    if (made !== undefined) await rmdir(runDir).catch(() => {}); // not empty: something else is in it now
  }
  const summary = rt.summary();
  const out = o.out ?? ((t: string) => process.stdout.write(t + '\n'));
  out(o.json ? JSON.stringify(summary) : formatSummary(summary));
  return summary.ok ? EXIT_OK : EXIT_FAILED;
}
