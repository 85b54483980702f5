// `myikev2 teardown`: from the run manifest (the controller's copy, or the
// servers'), stop every instance, remove everything the run created, run
// cleancmds, then verify nothing carrying the run's tag is left.
import { join } from 'node:path';
import { asMyikeError, MyikeError } from '../errors.js';
import type { ControllerConf } from '../model/config-types.js';
import { onServers, type RunManifest } from './manifest.js';
import { manifestKey } from './names.js';
import { runTasks, subtasksThen, timing, type ProgressMode } from './progress.js';
import { holdRun, InTurn, Servers, type ServerSession } from './servers.js';
import { deleteManifest, logsDirFor, logsKeptPerRun, pruneLogs, readManifest, writeManifest } from './store.js';
import { stopDaemonIfIdle, teardownServer } from './teardown.js';
import { stopInstances } from './instances.js';
import type { DaemonClient } from '../daemon/client.js';
import type { Transport } from '../transport/transport.js';

export interface TeardownRunOptions {
  force: boolean;
  saveLogs: boolean;
  keepDaemon: boolean;
  /** Drop the controller's record of the run even when a server could not be torn down (its daemon keeps its own). */
  forget?: boolean;
  progress: ProgressMode;
  warn: (w: string) => void;
}

export interface TeardownResult {
  name: string | null; // null: there was no such run
  tag: string;
  servers: { server: string; leftovers: string[] }[];
  logs: string | null; // where the instances' logs were saved on the controller
  logsPruned: number; // older saved logs of the run removed (the newest `logsKept` stay)
  logsKept: number;
  idleDaemonsStopped: string[]; // servers whose idle daemon a teardown of no run stopped
  forgotten: boolean; // not clean, but the controller's record is gone (--forget)
}

/** A server's daemon that answered while the run's manifest was looked for. */
type Met = { server: string; transport: Transport; daemon: DaemonClient; bundlePath: string };

/** Finds the run's manifest: the controller's copy, else the newest one a server keeps; `met`: the daemons asked (the servers' sessions now). */
async function findManifest(config: ControllerConf, tag: string, servers: Servers, warn: (w: string) => void): Promise<{ manifest: RunManifest | null; met: Met[] }> {
  const met: Met[] = [];
  const local = readManifest(tag);
  if (local) return { manifest: local, met };
  let found: RunManifest | null = null;
  const unasked: string[] = [];
  await Promise.all(
    Object.keys(config.servers).map(async (name) => {
      try {
        const { transport, daemon, bundlePath } = await servers.existingDaemon(name);
        if (!daemon) return;
        met.push({ server: name, transport, daemon, bundlePath });
        const m = await daemon.request('manifest.get', { key: manifestKey(tag) }).then((r) => r.value as RunManifest, () => null);
        if (m && (!found || m.updatedAt > found.updatedAt)) found = m;
      } catch (e) {
        // Found elsewhere, the run's own servers are checked below; found nowhere, the run may be there.
        unasked.push(`${name} (${asMyikeError(e).message.split('\n')[0]})`);
      }
    }),
  );
  if (!found && unasked.length) warn(`this controller has no record of the run, and ${unasked.sort().join(', ')} could not be asked for one: a run there is not found (teardown again once it is reachable)`);
  return { manifest: found, met };
}

export async function teardownRun(config: ControllerConf, tag: string, opts: TeardownRunOptions): Promise<TeardownResult> {
  const logsKept = logsKeptPerRun(); // checked before any server is touched
  const servers = new Servers(config);
  try {
    const { manifest: m, met } = await findManifest(config, tag, servers, opts.warn);
    if (!m) {
      // No such run; idle daemons (kept by an earlier `teardown --keep-daemon`) go unless kept again.
      const stopped: string[] = [];
      if (!opts.keepDaemon) await Promise.all(met.map((d) => stopDaemonIfIdle(d).then((yes) => yes && stopped.push(d.server), () => {})));
      return { name: null, tag, servers: [], logs: null, logsPruned: 0, logsKept, idleDaemonsStopped: stopped.sort(), forgotten: false };
    }
    const result: TeardownResult = { name: m.name, tag, servers: [], logs: null, logsPruned: 0, logsKept, idleDaemonsStopped: [], forgotten: false };
    /** A server whose teardown failed (unreachable, busy, a script that failed): what is left there, told once in the result. */
    const failed: string[] = [];
    const stepOn = new Map<string, string>(); // where each server's teardown is: named when it fails without a step of its own (a lost connection)
    const notTornDown = (name: string) => (err: unknown): never => {
      const e = asMyikeError(err);
      const step = e.step ?? stepOn.get(name);
      failed.push(name);
      result.servers.push({ server: name, leftovers: [`not torn down${step ? ` (step ${step})` : ''}: ${e.message}${e.hint ? ` — ${e.hint}` : ''}`] });
      throw e;
    };
    const incomplete = new Error('incomplete');
    const logsDir = logsDirFor(m.name);
    // Connecting starts now, while the progress view is built (~50 ms).
    // Any daemon that answers will do: it has the run's instances (no bundle check first).
    const sessions = new Map(m.servers.map((name) => [name, timing(`${name} connect`, () => servers.session(name, { anyRunningDaemon: true }))]));
    for (const s of sessions.values()) s.catch(() => {}); // told by the server's task
    // Later waves stop first, on every server (a client before the gateway it talks to, whose
    // DELETEs would otherwise reach it as a peer going away): wave by wave, all servers at once.
    const lastWave = opts.force ? 0 : Math.max(0, ...m.instances.map((r) => r.wave ?? 0));
    const waveStopped = Array.from({ length: lastWave + 1 }, () => barrier(m.servers.length));
    // The run's lock on every server first, in name order as `run` takes them, and nothing is touched
    // before all are held: a run (or teardown) of it under way elsewhere is met on the first server,
    // not after some servers were torn down under it. A server that cannot be reached waits for no one.
    const turns = new InTurn(m.servers);
    let newer: RunManifest | null = null; // a newer record of the run on one of its servers
    const lockedEverywhere = turns.all.catch((e: unknown) => {
      throw new MyikeError('E_SKIPPED', `nothing torn down: the run could not be locked on ${asMyikeError(e).server ?? 'another server'}`, { step: 'lock the run' });
    });
    lockedEverywhere.catch(() => {}); // told by each server's task
    const tearDownOn = async (name: string, t: { title: string; output: string }): Promise<void> => {
      let wave = lastWave; // the next wave this server has not passed yet
      const stopped = new Set<string>();
      try {
        let s: ServerSession;
        try {
          s = await sessions.get(name)!;
        } catch (e) {
          await turns.take(name, async () => {}).catch(() => {});
          throw e;
        }
        // Skipped: a server before this one could not be locked, as lockedEverywhere says.
        await turns.take(name, () => holdRun(s, tag, 'teardown')).catch((e: unknown) => {
          if (asMyikeError(e).code !== 'E_SKIPPED') throw e;
        });
        await lockedEverywhere;
        // Another controller may have changed the run since this one recorded it (moved an instance to another server).
        const theirs = await s.daemon.request('manifest.get', { key: manifestKey(tag) }).then((r) => r.value as RunManifest, () => null);
        if (theirs && theirs.updatedAt > (newer ?? m).updatedAt) newer = theirs;
        t.title = `${name}: stopping instances`;
        stepOn.set(name, 'stop instances');
        for (; wave >= 1; wave--) {
          const mine = m.instances.filter((r) => r.server === name && (r.wave ?? 0) === wave);
          if (mine.length) await stopInstances(s, tag, mine, false, opts.warn);
          for (const r of mine) stopped.add(r.name);
          waveStopped[wave].arrive();
          await waveStopped[wave].passed;
        }
        const { leftovers, logsSaved } = await teardownServer(s, m, {
          onStep: (step) => stepOn.set(name, step),
          stopped,
          force: opts.force,
          warn: opts.warn,
          onOutput: (x) => (t.output = x.trimEnd()),
          logsFile: opts.saveLogs ? join(logsDir, `${name}.tar.gz`) : undefined,
          stopIdleDaemon: !opts.keepDaemon,
        });
        if (logsSaved) result.logs = logsDir;
        result.servers.push({ server: name, leftovers });
        t.title = leftovers.length ? `${name}: ${leftovers.length} thing(s) left` : `${name}: clean`;
      } finally {
        for (; wave >= 1; wave--) waveStopped[wave].arrive(); // a server that failed holds no one up
      }
    };
    await runTasks(
      {},
      [
        {
          title: `Tear down run "${m.name}" (${tag}) on ${m.servers.length} server(s)`,
          task: (_c, task) =>
            subtasksThen(
              task.newListr(
                m.servers.map((name) => ({
                  title: name,
                  task: (_c2, t) => tearDownOn(name, t).catch(notTornDown(name)),
                })),
                { concurrent: true, exitOnError: false },
              ),
              () => {
                // The run's line must not read as done when a server was not torn down.
                if (failed.length) throw Object.assign(incomplete, { message: `${failed.length} of ${m.servers.length} server(s) not torn down: ${failed.sort().join(', ')}` });
              },
            ),
        },
      ],
      opts.progress,
    ).catch((err) => err === incomplete || opts.warn(asMyikeError(err).describe())); // each server's own failure is in the result
    for (const name of m.servers)
      if (!result.servers.some((s) => s.server === name)) result.servers.push({ server: name, leftovers: ['not torn down or verified: see the error above'] });
    const missed = (newer as RunManifest | null)?.servers.filter((name) => !m.servers.includes(name)) ?? [];
    for (const name of missed)
      result.servers.push({ server: name, leftovers: ['not torn down: the run has a part here since another controller changed it (this one\'s record of the run was older); run the same teardown again'] });
    const clean = result.servers.every((s) => s.leftovers.length === 0);
    if (clean || opts.forget) deleteManifest(tag);
    else if (missed.length || readManifest(tag)) {
      // The servers torn down clean have nothing of the run left (their daemons dropped its manifest): the record keeps
      // the rest, so `list` does not show what is gone as stopped (nor starts idle daemons there), and the next teardown
      // goes only there; from the newer record when the run has parts this one did not know (missed).
      const kept = missed.length ? newer! : m;
      const left = new Set(result.servers.filter((s) => s.leftovers.length).map((s) => s.server));
      writeManifest(onServers(kept, (s) => left.has(s)));
    }
    result.forgotten = !clean && !!opts.forget;
    if (result.logs) result.logsPruned = pruneLogs(m.name, logsKept);
    return result;
  } finally {
    await servers.close(); // the daemons met too: they are the servers' sessions
  }
}

/** Opens once `parties` have arrived. */
function barrier(parties: number): { arrive: () => void; passed: Promise<void> } {
  let left = parties;
  let open!: () => void;
  const passed = new Promise<void>((resolve) => (open = resolve));
  return {
    arrive: () => {
      if (--left === 0) open();
    },
    passed,
  };
}
