// `myikev2 run`: validated inputs → servers connected, daemons ensured →
// facts → plan → setupcmds and plumbing scripts → instances started in waves
// → each up → summary. On failure what this run created is rolled back.
import { mkdtempSync, rmSync, mkdirSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { asMyikeError, EXIT_INTERRUPTED, MyikeError } from '../errors.js';
import { ExecQueue } from '../transport/exec-queue.js';
import { shq } from '../transport/transport.js';
import type { InstanceInfo, NetnsBatch } from '../daemon/protocol.js';
import type { Inputs } from '../model/load.js';
import type { InstanceConf, ServerCommands } from '../model/recipe-types.js';
import { startInstance, startStep, stillDetached, waitUp, type UpState } from './instances.js';
import { newManifest, type InstanceRecord, type RunManifest } from './manifest.js';
import { manifestKey, runTag, SERVER_RUNS_DIR } from './names.js';
import { DETACHED, normalAddr, planRun, type RunPlan, type ServerFacts, type PlannedInstance } from './plan.js';
import { runTasks, timing, type ProgressMode } from './progress.js';
import { hasDefaultLogdir, renderNamespaceBatches, renderNamespaceScript, renderPlumbScript } from './render.js';
import { factsCommand, parseFacts } from './facts.js';
import { holdRun, InTurn, Servers, type ServerSession } from './servers.js';
import { deleteManifest, logsDirFor, logsKeptPerRun, prunedNote, pruneLogs, readManifest, writeManifest } from './store.js';
import { removeInstances, runCommands, runScript, stopDaemonIfIdle, teardownServer } from './teardown.js';

export interface RunOptions {
  override: boolean;
  keepOnFailure: boolean;
  progress: ProgressMode;
  warn: (w: string) => void;
  /** Cancels between steps (the shell's Ctrl-C); what was created is rolled back as after a failure. */
  signal?: AbortSignal;
}

function checkCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted)
    throw new MyikeError('E_CANCELLED', 'cancelled', { hint: 'what this run had created was rolled back (unless --keep-on-failure); run it again when ready', exitCode: EXIT_INTERRUPTED });
}

export interface InstanceStatus {
  instance: string;
  server: string;
  kind: 'myikev2' | 'other';
  namespace: string;
  mgmtAddr: string;
  state: UpState | 'failed';
  /** What this run did with it: made it, found it up, started it again in its namespace, or replaced it (-o). */
  change: 'created' | 'kept' | 'restarted' | 'replaced';
  logdir: string;
  runDir: string;
}

export interface RunResult {
  name: string;
  tag: string;
  instances: InstanceStatus[];
  /** Instances of the run no longer in the recipe, removed by this run (-o). */
  removed: { instance: string; server: string }[];
}

interface Ctx {
  sessions: Map<string, ServerSession>;
  facts: Record<string, ServerFacts>;
  previous: RunManifest | null;
  plan?: RunPlan;
  started: Map<string, UpState>;
  setupRan: Set<string>; // servers where this run started its setupcmds: a failed run runs their cleancmds
}

/**
 * At most this many instance starts asked of one server's daemon at a time:
 * it starts them one after another, and each request must be answered within
 * the client's timeout (15 s), which a queue of a thousand would exceed.
 */
const SPAWNS_IN_FLIGHT = 128;

/**
 * All servers a run touches: the recipe's, and those of the run already up
 * (an instance no longer in the recipe, or moved, is removed from its server).
 */
export function runServers(inputs: Inputs, previous: RunManifest | null): string[] {
  const r = inputs.recipe;
  const names = new Set([...r.instances.map((i) => i.server), ...r.setupcmds.map((c) => c.server), ...r.cleancmds.map((c) => c.server), ...(previous?.servers ?? [])]);
  return Object.keys(inputs.config.servers).filter((s) => names.has(s));
}

export async function runRecipe(inputs: Inputs, opts: RunOptions): Promise<RunResult> {
  const { recipe } = inputs;
  const tag = runTag(recipe.name);
  const keepLogs = logsKeptPerRun(); // checked before any server is touched: a rollback saves logs
  const servers = new Servers(inputs.config);
  const names = runServers(inputs, readManifest(tag));
  const ctx: Ctx = { sessions: new Map(), facts: {}, previous: null, started: new Map(), setupRan: new Set() };
  let plumbed = false;
  const daemonInstances: Record<string, ServerFacts['daemonInstances']> = {};
  const running: Record<string, InstanceInfo[]> = {}; // the run's instances each daemon had
  // Connecting starts now, while the progress view is built (~50 ms).
  const sessions = new Map(names.map((name) => [name, servers.session(name)]));
  for (const s of sessions.values()) s.catch(() => {}); // told by the server's task
  // Each server's turn: the run's lock, then the check that no other run has its data interfaces. setupcmds
  // start once every server had its turn: nothing is touched before the whole run can go ahead.
  const turns = new InTurn(names);
  // Each server's step under way (connect and setupcmds, prepare): when one
  // server fails, the others' steps go on, and nothing is undone (cleancmds,
  // rollback) before they end, or it would race with what they still create.
  const busy = new Map<string, Promise<void>>();
  const track = <T>(name: string, step: Promise<T>): Promise<T> => {
    const over: Promise<void> = step.then(
      () => undefined,
      () => undefined,
    ).finally(() => busy.get(name) === over && busy.delete(name));
    busy.set(name, over);
    return step;
  };
  try {
    await runTasks(ctx, [
      {
        title: `Connect to ${names.length} server(s), run setupcmds`,
        task: (_c, task) =>
          task.newListr(
            names.map((name) => ({
              title: name,
              task: (_c2, t) => track(name, (async () => {
                // Without setupcmds (which may change them) the facts are read while the daemon starts.
                const factsCmd = factsCommand([...new Set(recipe.instances.flatMap((i) => (i.server === name && i.dataIf ? [i.dataIf] : [])))]);
                const early = recipe.setupcmds.some((c) => c.server === name) ? null : servers.transport(name).then((tr) => timing(`${name} facts`, () => tr.exec(factsCmd)));
                early?.catch(() => undefined); // awaited below; a failure of the session comes first
                const s = await sessions.get(name)!;
                ctx.sessions.set(name, s);
                t.title = `${name}: daemon ready`;
                // First the run's lock, server by server in name order: the reads below must not race another run of this recipe.
                await timing(`${name} lock`, () =>
                  turns.take(name, async () => {
                    await holdRun(s, tag, 'run');
                    await refuseTakenDataIfs(s, recipe, tag);
                  }),
                );
                const [list, stored] = await timing(`${name} list`, () => Promise.all([
                  s.daemon.request('list', { tag }),
                  s.daemon.request('manifest.get', { key: manifestKey(tag) }).then((r) => r.value as RunManifest, () => null),
                ]));
                // An instance whose upcmds daemonised runs on: a converging run keeps it (not a second `ipsec start`).
                const detached = await stillDetached(s, list.instances);
                daemonInstances[name] = list.instances.map((i) => ({ name: i.name, state: detached.has(i.name) ? DETACHED : i.state }));
                running[name] = list.instances;
                if (stored && (!ctx.previous || stored.updatedAt > ctx.previous.updatedAt)) ctx.previous = stored;
                // setupcmds prepare a new run; a run that exists already had them (they need not be idempotent).
                // The server's record says so: this controller's may be stale (the run torn down from another one).
                const cmds = stored ? [] : recipe.setupcmds.filter((c) => c.server === name);
                if (cmds.length)
                  await turns.all.catch((e: unknown) => {
                    const by = asMyikeError(e).server;
                    throw new MyikeError('E_REFUSED', `setupcmds not run: ${by && by !== name ? `server ${by}` : 'a server'} refused the run`, { server: name, step: 'setupcmds' });
                  });
                if (cmds.length) {
                  t.title = `${name}: setupcmds`;
                  ctx.setupRan.add(name);
                  // On record before they run: a controller killed meanwhile leaves a run that `teardown` finds
                  // (and runs cleancmds for), and that the next run does not set up a second time.
                  await s.daemon.request('manifest.put', { key: manifestKey(tag), value: newManifest(recipe, tag, new Date().toISOString(), names) });
                  await runCommands(s.transport, cmds, 'setupcmds', (text) => (t.output = text.trimEnd()));
                }
                const facts = await (early ?? timing(`${name} facts`, () => s.transport.exec(factsCmd)));
                ctx.facts[name] = { ...parseFacts(name, facts.stdout), daemonInstances: daemonInstances[name] };
                t.title = `${name}: ready`;
              })()).catch((e: unknown) => {
                turns.fail(name); // the servers after it do not wait for their turn, nor anyone's setupcmds
                return onServer(name, 'connect')(e);
              }),
            })),
            { concurrent: true, exitOnError: true },
          ),
      },
      {
        title: 'Plan',
        task: async (_c, task) => {
          checkCancelled(opts.signal);
          const local = readManifest(tag);
          if (local && (!ctx.previous || local.updatedAt > ctx.previous.updatedAt)) ctx.previous = local;
          try {
            ctx.plan = planRun(recipe, inputs.config, ctx.facts, ctx.previous, { override: opts.override, now: new Date().toISOString() });
          } catch (e) {
            // Which run has the address, when one says so (looked up only now: the common case pays nothing).
            if (e instanceof MyikeError && e.code === 'E_MGMT_ADDR_IN_USE') throw await withMgmtAddrHolders(e, ctx, recipe, tag);
            throw e;
          }
          for (const r of [...ctx.plan.repairs, ...ctx.plan.notes]) opts.warn(r);
          const older = enginesOfOtherBuilds(ctx.plan, running, (server) => ctx.sessions.get(server)!.bundlePath);
          if (older.length)
            opts.warn(`${older.length === 1 ? 'engine instance' : 'engine instances'} ${listNames(older)} ${older.length === 1 ? 'runs' : 'run'} the engine of another myikev2 build and ${older.length === 1 ? 'is' : 'are'} kept as ${older.length === 1 ? 'it is' : 'they are'} (the recipe did not change); to run this build's engine, stop ${older.length === 1 ? 'it' : 'them'} (shell: stop -t NAME) and run again, or tear the run down and run it again`);
          const n = ctx.plan.servers.reduce((a, s) => [a[0] + s.create.length, a[1] + s.keep.length, a[2] + s.restart.length, a[3] + s.remove.length], [0, 0, 0, 0]);
          task.title = `Plan: ${n[0]} to create, ${n[1]} up already, ${n[2]} to restart, ${n[3]} to replace/remove`;
        },
      },
      {
        title: 'Prepare servers',
        task: (_c, task) =>
          task.newListr(
            ctx.plan!.servers.map((sp) => ({
              title: sp.server,
              task: (_c2, t) => track(sp.server, (async () => {
                checkCancelled(opts.signal);
                // A server only the servers' record of the run names (the controller's was lost) is reached now.
                const s = await liveSession(ctx, servers, tag, sp.server);
                if (sp.remove.length) {
                  t.title = `${sp.server}: removing ${sp.remove.length} replaced instance(s)`;
                  await removeInstances(s, tag, sp.remove, { force: false, warn: opts.warn });
                }
                if (!ctx.plan!.manifest.servers.includes(sp.server)) {
                  // The run has left this server: its record there goes, and the daemon too when it has nothing else.
                  writeManifest(ctx.plan!.manifest);
                  await s.daemon.request('manifest.delete', { key: manifestKey(tag) });
                  t.title = `${sp.server}: the run left it${(await stopDaemonIfIdle(s).catch(() => false)) ? ' (idle daemon stopped)' : ''}`;
                  return;
                }
                // Record before creating anything, so a failure can be rolled back from the manifest.
                await timing(`${sp.server} manifest`, () => saveManifest(ctx, s));
                const records = sp.create.map((p) => p.record);
                if (records.length) {
                  t.title = `${sp.server}: plumbing ${records.length} namespace(s)`;
                  plumbed = true;
                  await timing(`${sp.server} plumb`, () => runScript(s.transport, renderPlumbScript(tag, sp.server, s.conf.mgmtaddrprefix, records), 'plumb'));
                  await timing(`${sp.server} configure namespaces`, () => configureNamespaces(s, tag, renderNamespaceBatches(sp.create, s.conf.mgmtaddrprefix)));
                }
                // A namespace whose instance is started again may have lost its configuration (a run killed between plumbing and configuring it, or changed by hand).
                if (sp.restart.length) {
                  await configureNamespaces(s, tag, renderNamespaceBatches(sp.restart, s.conf.mgmtaddrprefix, { engineAddresses: false }));
                  // Their run directories, where they start, may be gone too (/run/myikev2 cleaned by hand).
                  await runScript(s.transport, `mkdir -p -m 0755 ${sp.restart.map((p) => shq(p.record.runDir)).join(' ')}\n`, 'prepare');
                }
                await pushSetupFiles(s, tag, [...sp.create, ...sp.restart]);
                t.title = `${sp.server}: ready (${records.length} namespace(s) created)`;
              })()).catch(onServer(sp.server, 'prepare')),
            })),
            { concurrent: true, exitOnError: true },
          ),
      },
      {
        title: 'Start instances',
        task: (_c, task) =>
          task.newListr(
            ctx.plan!.waves.map((wave, i) => ({
              title: `${wave.waitMs ? `after ${wave.waitMs} ms: ` : ''}${listNames(wave.instances.map((p) => p.conf.name))}`,
              task: async (_c2, t) => {
                checkCancelled(opts.signal);
                const keep = new Set(ctx.plan!.servers.flatMap((s) => s.keep.map((r) => r.name)));
                const starting = wave.instances.filter((p) => !keep.has(p.conf.name));
                // A wave whose instances all run already (a converging run) has nothing to wait for.
                if (wave.waitMs && starting.length) await sleep(wave.waitMs, undefined, { signal: opts.signal }).catch(() => {}); // cut short by a cancel
                checkCancelled(opts.signal);
                const created = new Set(ctx.plan!.servers.flatMap((s) => s.create.map((p) => p.record.name)));
                const startedAt = new Map<string, number>();
                const inFlight = new Map(ctx.plan!.servers.map((sp) => [sp.server, new ExecQueue({ limit: SPAWNS_IN_FLIGHT })]));
                // allSettled: a rollback must not race with starts still in flight.
                const spawned = await timing(`spawned ${starting.length}`, () =>
                  Promise.allSettled(
                    starting.map((p) =>
                      inFlight.get(p.conf.server)!.run(async () => {
                        startedAt.set(p.record.name, await startInstance(ctx.sessions.get(p.conf.server)!, tag, p.conf, p.record, created.has(p.record.name), (text) => (t.output = text.trimEnd())));
                      }).catch(onServer(p.conf.server, startStep(p.conf.name))),
                    ),
                  ),
                );
                let failures = spawned.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
                if (failures.length) throw failures[0];
                const byServer = new Map<string, InstanceRecord[]>();
                for (const p of wave.instances) byServer.set(p.conf.server, [...(byServer.get(p.conf.server) ?? []), p.record]);
                const results = await Promise.allSettled(
                  [...byServer].map(async ([server, records]) => {
                    const up = await waitUp(ctx.sessions.get(server)!, tag, records, startedAt).catch(onServer(server, `wait for ${listNames(records.map((r) => r.name), 3)}`));
                    for (const [name, state] of up) ctx.started.set(name, state);
                  }),
                );
                failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
                if (failures.length) throw failures[0];
                checkCancelled(opts.signal); // cancelled while the last wave started: roll it back too (and do not call it up)
                t.title = `wave ${i + 1}: ${wave.instances.length} instance(s) ${starting.length ? 'up' : 'already running (no wait)'}`;
              },
            })),
            { concurrent: false, exitOnError: true },
          ),
      },
    ], opts.progress);
  } catch (err) {
    let e = asMyikeError(err);
    if (busy.size) {
      opts.warn(`waiting for ${listNames([...busy.keys()])} to end ${busy.size === 1 ? 'its step' : 'their steps'} under way before undoing anything`);
      await Promise.all(busy.values());
    }
    if (ctx.plan && plumbed && !opts.keepOnFailure) {
      opts.warn(`run ${e.code === 'E_CANCELLED' ? 'cancelled' : 'failed'}; rolling back what it created (use --keep-on-failure to keep it for inspection)`);
      const archives = await rollback(ctx, servers, tag, keepLogs, opts).catch((re) => void opts.warn(`rollback incomplete: ${asMyikeError(re).message}`));
      // The hint pointed at the failed instance's logs on its server: the rollback saved them here and removed them there.
      const failed = e.code === 'E_INSTANCE' && ctx.plan.manifest.instances.find((r) => r.server === e.server && e.step === startStep(r.name));
      const archive = e.server && archives?.get(e.server);
      if (failed && archive && hasDefaultLogdir(tag, failed)) e = e.withHint(`its logs are in ${archive} (the run was rolled back; --keep-on-failure keeps it on ${e.server} for inspection)`);
    }
    if (ctx.plan && plumbed && opts.keepOnFailure)
      opts.warn(`run ${e.code === 'E_CANCELLED' ? 'cancelled' : 'failed'}; what it created is kept for inspection (--keep-on-failure): the shell's list, logs -t and cli -t look inside, \`myikev2 teardown --name ${shq(recipe.name)}\` (with the same -c) removes it`);
    if (!opts.keepOnFailure) await undoSetupcmds(ctx, recipe.cleancmds, opts);
    // The record made for setupcmds goes with what they made (a rollback removed it already where it ran).
    if (!opts.keepOnFailure && !ctx.previous)
      await Promise.all([...ctx.setupRan].map((name) => ctx.sessions.get(name)?.daemon.request('manifest.delete', { key: manifestKey(tag) }).catch(() => {})));
    if (!opts.keepOnFailure) await stopIdleDaemonsWeStarted(ctx, sessions.values());
    await servers.close();
    throw e;
  }
  await servers.close();
  return {
    name: recipe.name,
    tag,
    instances: ctx.plan!.manifest.instances.map((r) => status(r, ctx.started.get(r.name) ?? 'failed', changeOf(ctx.plan!, r.name))),
    removed: removedOf(ctx.plan!),
  };
}

/** What the run removed and did not make anew (an instance replaced by -o is in the run, as 'replaced'). */
function removedOf(plan: RunPlan): RunResult['removed'] {
  const kept = new Set(plan.manifest.instances.map((r) => r.name));
  return plan.servers.flatMap((sp) => sp.remove.filter((r) => !kept.has(r.name)).map((r) => ({ instance: r.name, server: r.server })));
}

function changeOf(plan: RunPlan, name: string): InstanceStatus['change'] {
  const sp = plan.servers.find((p) => p.create.some((c) => c.record.name === name) || p.keep.some((r) => r.name === name) || p.restart.some((c) => c.record.name === name));
  if (!sp || sp.keep.some((r) => r.name === name)) return 'kept';
  if (sp.restart.some((c) => c.record.name === name)) return 'restarted';
  return plan.servers.some((p) => p.remove.some((r) => r.name === name)) ? 'replaced' : 'created';
}

/**
 * Refuses a run whose data interface on this server an instance of another
 * run has in its namespace (that run's manifest on the server's daemon says
 * so), naming that run, before anything (setupcmds) is done.
 */
async function refuseTakenDataIfs(s: ServerSession, recipe: Inputs['recipe'], tag: string): Promise<void> {
  const server = s.conf.name;
  const mine = recipe.instances.filter((i) => i.server === server && i.dataIf);
  if (!mine.length) return;
  const taken = dataIfsTaken(mine, server, await otherRuns(s, tag));
  if (taken.length)
    throw new MyikeError('E_DATAIF_TAKEN', taken.map((t) => t.line).join('\n'), {
      server,
      step: 'check data interfaces',
      hint: `give the instance another data interface, or tear that run down first (${teardownsOf(taken)}); nothing was done on any server`,
    });
}

/** What another run holds: the run's name, and the line that says what. */
interface Held {
  run: string;
  line: string;
}

/** The teardown commands that free what these runs hold. */
const teardownsOf = (held: Held[]) => [...new Set(held.map((h) => h.run))].map((n) => `myikev2 teardown --name ${shq(n)}`).join(', ');

/** The runs on each server (their manifests on its daemon), but this one. */
async function otherRuns(s: ServerSession, tag: string): Promise<RunManifest[]> {
  const { keys } = await s.daemon.request('manifest.list', { prefix: manifestKey('') });
  const others = await Promise.all(keys.filter((k) => k !== manifestKey(tag)).map((key) => s.daemon.request('manifest.get', { key }).then((r) => r.value as RunManifest, () => null)));
  return others.flatMap((m) => (m ? [m] : []));
}

/** A management-address clash, with the runs that have those addresses and how to tear them down. */
async function withMgmtAddrHolders(e: MyikeError, ctx: Ctx, recipe: Inputs['recipe'], tag: string): Promise<MyikeError> {
  const found = await Promise.all([...ctx.sessions.values()].map((s) => otherRuns(s, tag).then((runs) => mgmtAddrsTaken(recipe.instances, s.conf.name, runs), () => [])));
  const held = found.flat();
  if (!held.length) return e;
  return new MyikeError(e.code, `${e.message}\n${held.map((h) => h.line).join('\n')}`, {
    ...e,
    cause: e.cause,
    hint: `give this recipe's instances ids no other run on the server uses (the management address comes from the id), use another mgmtaddrprefix, or tear that run down first (${teardownsOf(held)})`,
  });
}

/** Which other run's instance on `server` has the management address of one of these instances. */
export function mgmtAddrsTaken(instances: Pick<InstanceConf, 'name' | 'server' | 'mgmtAddr'>[], server: string, others: RunManifest[]): Held[] {
  return instances
    .filter((i) => i.server === server && i.mgmtAddr)
    .flatMap((i) =>
      others.flatMap((m) =>
        m.instances
          .filter((r) => r.server === server && r.mgmtAddr && normalAddr(r.mgmtAddr) === normalAddr(i.mgmtAddr))
          .map((r) => ({ run: m.name, line: `run "${m.name}" (tag ${m.tag}) has ${i.mgmtAddr} on ${server}, for its instance ${r.name} (this recipe's instance ${i.name} would get it)` })),
      ),
    );
}

/** What says that another run's instance on `server` has a data interface of these instances. */
export function dataIfsTaken(instances: Pick<InstanceConf, 'name' | 'dataIf'>[], server: string, others: RunManifest[]): Held[] {
  return instances.flatMap((i) => {
    const holders = others.flatMap((m) => m.instances.filter((r) => r.server === server && r.dataIf === i.dataIf).map((r) => ({ m, r })));
    return holders.map(({ m, r }) => ({ run: m.name, line: `data interface ${i.dataIf} of instance ${i.name} is taken on server ${server}: run "${m.name}" (tag ${m.tag}) has it in namespace ${r.netns} (its instance ${r.name})` }));
  });
}

/**
 * Engine instances a converging run keeps that run another build's engine:
 * their command names another bundle than this build's (`bundlePath`).
 */
export function enginesOfOtherBuilds(plan: RunPlan, running: Record<string, InstanceInfo[]>, bundlePath: (server: string) => string): string[] {
  return plan.servers.flatMap((sp) =>
    sp.keep.filter((r) => r.kind === 'myikev2' && running[sp.server]?.find((i) => i.name === r.daemonName)?.argv.includes(bundlePath(sp.server)) === false).map((r) => r.name),
  );
}

/** Places an error of one server's part of the run on that server and step, unless it names a server (a lost daemon connection does not). */
const onServer = (server: string, step: string) => (err: unknown): never => {
  const e = asMyikeError(err);
  throw e.code === 'E_CANCELLED' ? e : e.on(server, step);
};

/** A few names, then how many more: a wave of hundreds of instances fits on a line. */
export function listNames(names: string[], max = 6): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max - 1).join(', ')} and ${names.length - max + 1} more (${names.length} instances)`;
}

function status(r: InstanceRecord, state: UpState | 'failed', change: InstanceStatus['change']): InstanceStatus {
  return { instance: r.name, server: r.server, kind: r.kind, namespace: r.netns, mgmtAddr: r.mgmtAddr, state, change, logdir: r.logdir, runDir: r.runDir };
}

/** Inside each new namespace: by the daemon in one request, or (an older daemon) by a script. */
export async function configureNamespaces(s: ServerSession, tag: string, batches: NetnsBatch[]): Promise<void> {
  if (!s.daemon.server.features.includes('netns.configure')) {
    await runScript(s.transport, renderNamespaceScript(tag, s.conf.name, batches), 'configure namespaces');
    return;
  }
  try {
    await s.daemon.request('netns.configure', { batches });
  } catch (e) {
    throw new MyikeError('E_PLUMB', `configuring the namespaces failed: ${(e as Error).message}`, {
      server: s.conf.name,
      step: 'configure namespaces',
      hint: 'the message names each namespace, line and error; `myikev2 run --dry-run` shows what each namespace gets',
    });
  }
}

async function saveManifest(ctx: Ctx, s: ServerSession): Promise<void> {
  const m = ctx.plan!.manifest;
  writeManifest(m);
  await s.daemon.request('manifest.put', { key: manifestKey(m.tag), value: m });
}

/** Setup files of engine instances go to their run directory on the server, in one push; they hold the PSK: owner only. */
export async function pushSetupFiles(s: ServerSession, tag: string, instances: PlannedInstance[]): Promise<void> {
  const engines = instances.filter((p) => p.conf.kind === 'myikev2');
  if (engines.length === 0) return;
  const dir = mkdtempSync(join(tmpdir(), 'myikev2-push-'));
  try {
    for (const p of engines) {
      mkdirSync(join(dir, p.conf.name), { recursive: true });
      copyFileSync(p.conf.myikev2!.setupPath, join(dir, p.conf.name, 'setup.yaml'));
      chmodSync(join(dir, p.conf.name, 'setup.yaml'), 0o600);
    }
    await s.transport.push(dir, `${SERVER_RUNS_DIR}/${tag}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * After a failed run: the cleancmds of the servers where it ran setupcmds, as
 * its teardown would have (what setupcmds made would otherwise stay, with no
 * run on record to tear down, and a second run's setupcmds trip over it).
 */
async function undoSetupcmds(ctx: Ctx, cleancmds: ServerCommands[], opts: RunOptions): Promise<void> {
  await Promise.all(
    [...ctx.setupRan].map(async (name) => {
      const cmds = cleancmds.filter((c) => c.server === name);
      const s = ctx.sessions.get(name);
      if (!cmds.length || !s) return;
      opts.warn(`${name}: running cleancmds, as the run's setupcmds ran there`);
      await runCommands(s.transport, cmds, 'cleancmds', undefined, opts.warn).catch((e) => opts.warn(`${name}: cleancmds not run: ${asMyikeError(e).message}`));
    }),
  );
}

/** After a failed run: the daemons it started go again when they have nothing (no instance, no manifest). */
async function stopIdleDaemonsWeStarted(ctx: Ctx, connecting: Iterable<Promise<ServerSession>>): Promise<void> {
  // A server that failed fast (a host key, a refused port) ends the run while others still connect and start
  // their daemons: wait for those too, or their daemons stay behind.
  const settled = await Promise.allSettled(connecting);
  const all = new Set([...ctx.sessions.values(), ...settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))]);
  // Best effort: the run's own error is what the user needs to see.
  await Promise.all([...all].filter((s) => s.daemonStarted && !s.daemon.closed).map((s) => stopDaemonIfIdle(s).catch(() => {})));
}

/**
 * Removes what a failed run created: the whole run if it was new, else the
 * instances it created. Returns the archives its logs were saved in, by server.
 * Each server on its own: one that cannot be reached does not stop the others'.
 */
async function rollback(ctx: Ctx, servers: Servers, tag: string, keepLogs: number, opts: RunOptions): Promise<Map<string, string>> {
  const plan = ctx.plan!;
  const quiet = { force: true, warn: opts.warn };
  const logs = logsDirFor(plan.name);
  const archives = new Map<string, string>();
  const names = ctx.previous ? plan.servers.map((sp) => sp.server) : plan.manifest.servers;
  const restored = ctx.previous && rolledBackManifest(ctx.previous, plan);
  const results = await Promise.allSettled(
    names.map(async (name) => {
      const s = await liveSession(ctx, servers, tag, name);
      if (restored) {
        await removeInstances(s, tag, plan.servers.find((sp) => sp.server === name)!.create.map((p) => p.record), quiet);
        // The server's copy of the manifest named what was just removed (a later run would take it for drift).
        if (restored.servers.includes(name)) await s.daemon.request('manifest.put', { key: manifestKey(tag), value: restored });
        else await s.daemon.request('manifest.delete', { key: manifestKey(tag) });
        return;
      }
      const archive = join(logs, `${name}.tar.gz`);
      const { leftovers: left, logsSaved } = await teardownServer(s, { ...plan.manifest, cleancmds: [] }, { ...quiet, logsFile: archive });
      if (left.length) opts.warn(`${name}: left after rollback: ${left.join(', ')}`);
      if (logsSaved) archives.set(name, archive);
    }),
  );
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ server: names[i], e: asMyikeError(r.reason) }] : []));
  for (const { server, e } of failed)
    opts.warn(`${server}: not rolled back${e.step ? ` (step ${e.step})` : ''}: ${e.message}; once it answers, run the recipe again or tear it down (\`myikev2 teardown\`): either takes over what the run left there`);
  // Else kept as it is: teardown finds what is left by it.
  if (!failed.length) {
    if (restored) writeManifest(restored);
    else deleteManifest(tag);
  }
  if (archives.size) opts.warn(`logs of the failed run saved in ${logs}${prunedNote(pruneLogs(plan.name, keepLogs), keepLogs)}`);
  return archives;
}

/**
 * The manifest of a converging run once its failure is rolled back: the run
 * as it was before, but for what this run removed (instances it replaced or
 * that are no longer in the recipe); what it created is gone again.
 */
export function rolledBackManifest(previous: RunManifest, plan: RunPlan): RunManifest {
  const created = new Set(plan.servers.flatMap((sp) => sp.create.map((p) => p.record.name)));
  const instances = plan.manifest.instances.filter((r) => !created.has(r.name));
  const servers = [...new Set([...previous.servers, ...instances.map((r) => r.server)])].sort(); // also where only setupcmds ran: their record stays
  return { ...previous, updatedAt: plan.manifest.updatedAt, servers, instances };
}

/** The server's session, a new one if its daemon connection was lost during the run (the daemon killed, SSH gone). */
async function liveSession(ctx: Ctx, servers: Servers, tag: string, name: string): Promise<ServerSession> {
  const s = ctx.sessions.get(name);
  if (s && !s.daemon.closed) return s;
  const fresh = await servers.session(name);
  await holdRun(fresh, tag, 'run');
  // A daemon this run started goes again with the others (stopIdleDaemonsWeStarted), also when only the
  // connection was lost and the fresh session found that daemon still running.
  fresh.daemonStarted ||= !!s?.daemonStarted;
  ctx.sessions.set(name, fresh);
  return fresh;
}
