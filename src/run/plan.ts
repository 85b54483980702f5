// The run planner: a pure function of the validated recipe, the controller
// config, what was observed on each server and the previous manifest. It
// decides what to create, keep or replace, and names every object; it does
// no I/O, so `run --dry-run` and golden tests see exactly what would happen.
import { MyikeError, EXIT_FAILED, EXIT_USAGE } from '../errors.js';
import type { ControllerConf } from '../model/config-types.js';
import type { InstanceConf, Recipe, ServerCommands } from '../model/recipe-types.js';
import { instanceHash, newManifest, writtenHash, type DataIfState, type InstanceRecord, type RunManifest } from './manifest.js';
import { parseAddress } from '../model/address.js';
import { DEFAULT_LOG_ROOT, instanceNames, MGMT_BRIDGE, MGMT_IF_IN_NS, runTag } from './names.js';

/** What was found on a server before planning. */
/** The state of an instance whose upcmds daemonised (exited 0, like `ipsec start`) and left processes in its namespace. */
export const DETACHED = 'running (detached)';

export interface ServerFacts {
  netns: string[];
  links: Record<string, DataIfState & { exists: true }>; // interfaces in the base namespace
  daemonInstances: { name: string; state: string }[]; // the daemon's instances with this run's tag (DETACHED: exited 0, its namespace still busy)
  mgmtRoutes: string[]; // addresses with a host route on the management bridge (in use by some run's instance)
  sshAddr?: string; // the server's address of the controller's SSH connection (none: local)
}

export interface PlannedInstance {
  conf: InstanceConf;
  record: InstanceRecord;
}

export interface ServerPlan {
  server: string;
  setupcmds: string[];
  create: PlannedInstance[]; // plumb and start
  keep: InstanceRecord[]; // already up and unchanged
  restart: PlannedInstance[]; // plumbed and unchanged, but its process is not running
  remove: InstanceRecord[]; // replaced (--override) or no longer in the recipe (--override)
}

export interface RunPlan {
  tag: string;
  name: string;
  servers: ServerPlan[];
  manifest: RunManifest; // as it will be after the run
  /** Instance starts in order; a new wave begins at each instance with a waitinterval. */
  waves: { waitMs: number; instances: PlannedInstance[] }[];
  /** Instances of the run whose plumbing was found broken (e.g. removed by hand): they are replaced. */
  repairs: string[];
  /** What else the user is told (e.g. setupcmds changed since the run was created). */
  notes: string[];
}

export interface PlanOptions {
  override: boolean;
  now: string; // ISO time, injected
}

export function planRun(
  recipe: Recipe,
  config: ControllerConf,
  facts: Record<string, ServerFacts>,
  previous: RunManifest | null,
  opts: PlanOptions,
): RunPlan {
  const tag = runTag(recipe.name);
  if (previous && previous.name !== recipe.name)
    throw new MyikeError('E_TAG_CLASH', `run tag ${tag} of recipe "${recipe.name}" is already used by the run of recipe "${previous.name}"`, {
      hint: `tear that run down first (myikev2 teardown --name "${previous.name}"), or rename this recipe`,
      exitCode: EXIT_FAILED,
    });
  const before = new Map((previous?.instances ?? []).map((r) => [r.name, r]));
  const servers = new Map<string, ServerPlan>();
  const serverPlan = (name: string): ServerPlan => {
    let p = servers.get(name);
    if (!p) servers.set(name, (p = { server: name, setupcmds: [], create: [], keep: [], restart: [], remove: [] }));
    return p;
  };
  for (const c of recipe.setupcmds) serverPlan(c.server).setupcmds.push(c.cmds);

  const drift: string[] = [];
  const repairs: string[] = [];
  const planned: PlannedInstance[] = [];
  const problems: string[] = [];
  const clashes: string[] = [];
  const setupcmdsNotRun = new Set<string>(); // servers of a run up already, whose setupcmds may be meant to make a missing data interface
  // Instances no longer in the recipe go first: what they free (a data interface) is there for the new ones.
  const wanted = new Set(recipe.instances.map((c) => c.name));
  for (const old of before.values()) {
    if (wanted.has(old.name)) continue;
    if (opts.override) serverPlan(old.server).remove.push(old);
    else drift.push(`instance ${old.name} on ${old.server} is no longer in the recipe`);
  }
  // This run's own management addresses are in use by this run only.
  const ours = new Set((previous?.instances ?? []).filter((r) => r.mgmtAddr).map((r) => `${r.server} ${normalAddr(r.mgmtAddr)}`));
  for (const conf of recipe.instances) {
    const sp = serverPlan(conf.server);
    const f = facts[conf.server];
    const old = before.get(conf.name);
    before.delete(conf.name);
    const record = toRecord(tag, conf, f, old, config);
    const p = { conf, record };
    const differences = old ? howItDiffers(conf, old, record) : [];
    if (old && differences.length) {
      if (!opts.override) {
        drift.push(`instance ${conf.name} on ${old.server}: ${differences.join('; ')}`);
        continue;
      }
      serverPlan(old.server).remove.push(old);
      record.dataIfOrig = null; // from the server, or from the removed instance that gives the interface back (below)
    } else if (old) {
      const gone = missingPlumbing(old, f);
      const running = f.daemonInstances.some((d) => d.name === old.daemonName && (d.state === 'running' || d.state === 'backoff' || d.state === DETACHED));
      if (!gone.length && running) {
        sp.keep.push(old);
        planned.push({ conf, record: old });
        continue;
      }
      if (!gone.length) {
        sp.restart.push({ conf, record: old });
        planned.push({ conf, record: old });
        continue;
      }
      // What is left of it (its process, veth, route) goes first, or the new one could not be made.
      sp.remove.push(old);
      repairs.push(`instance ${conf.name} on ${conf.server}: its ${gone.join(' and ')} ${gone.length > 1 ? 'are' : 'is'} gone (removed outside myikev2); it is made anew`);
      record.dataIfOrig = old.dataIfOrig;
    }
    if (record.mgmtAddr && !ours.has(`${conf.server} ${normalAddr(record.mgmtAddr)}`) && f.mgmtRoutes.some((a) => normalAddr(a) === normalAddr(record.mgmtAddr)))
      clashes.push(`management address ${record.mgmtAddr} of instance ${conf.name} is already in use on server ${conf.server} (a host route to it on ${MGMT_BRIDGE}): another run has an instance with the same id there, or left its route behind`);
    if (conf.dataIf) {
      if (conf.dataIf === MGMT_IF_IN_NS) problems.push(`instance ${conf.name}: its data interface cannot be called ${MGMT_IF_IN_NS} (the management interface in every namespace)`);
      const link = f.links[conf.dataIf];
      const freed = sp.remove.find((r) => r.dataIf === conf.dataIf);
      if (!link && !freed && !record.dataIfOrig) {
        if (previous && recipe.setupcmds.some((c) => c.server === conf.server)) setupcmdsNotRun.add(conf.server);
        problems.push(`server ${conf.server} has no interface ${conf.dataIf} in its base namespace (data interface of instance ${conf.name}; an instance of another run may have it in its namespace)`);
      } else if (link) record.dataIfOrig ??= linkState(link);
      // The removed instance gives it back as it found it: that is how teardown must give it back too.
      else if (freed) record.dataIfOrig ??= freed.dataIfOrig;
      // Moved into a namespace, it would take the server's SSH connection with it: nothing could reach the server to give it back.
      if (f.sshAddr && link?.addrs.some((a) => normalAddr(a.split(/[/ ]/)[0]) === normalAddr(f.sshAddr!)))
        problems.push(`instance ${conf.name}: its data interface ${conf.dataIf} has ${f.sshAddr}, the address this controller reaches server ${conf.server} by (SSH): moved into the instance's namespace, it would cut the server off`);
      // The controller's own machine has no SSH address to protect: the interface of its default route is how it (and whoever is logged in to it) reaches anything.
      if (config.servers[conf.server]?.connection === 'local' && link?.routes?.some((r) => /^(default|::\/0)\s/.test(r) && !/\stable\s/.test(r)))
        problems.push(`instance ${conf.name}: its data interface ${conf.dataIf} carries the default route of ${conf.server}, the controller's own machine: moved into the instance's namespace, it would cut this machine (and a session logged in to it) off its network`);
    }
    sp.create.push(p);
    planned.push(p);
  }
  if (drift.length)
    throw new MyikeError('E_DRIFT', `the run of "${recipe.name}" differs from the recipe:\n  ${drift.join('\n  ')}`, {
      hint: 'run again with -o/--override to replace the changed instances and remove those no longer in the recipe, or tear the run down first',
      exitCode: EXIT_USAGE, // nothing was changed: the recipe, or the command, is what to fix
    });
  if (clashes.length)
    throw new MyikeError('E_MGMT_ADDR_IN_USE', clashes.join('\n'), {
      hint: `give this recipe's instances ids no other run on the server uses (the management address comes from the id), tear the other run down, or use another mgmtaddrprefix; a route no run owns any more can go with \`ip -6 route del ADDRESS/128 dev ${MGMT_BRIDGE}\``,
      exitCode: EXIT_FAILED,
    });
  if (problems.length)
    throw new MyikeError('E_PLAN', problems.join('\n'), {
      hint:
        'fix bindifname/dataif: a data interface must be in the server\'s base namespace (create it in setupcmds if need be), and not be the one the controller reaches the server by' +
        (setupcmdsNotRun.size
          ? `; the run is up already, so its setupcmds (on ${[...setupcmdsNotRun].sort().join(', ')}) are not run again: create the interface there by hand, or tear the run down and run the recipe again`
          : ''),
      exitCode: EXIT_FAILED,
    });

  const waves: RunPlan['waves'] = [];
  for (const p of planned) {
    if (waves.length === 0 || p.conf.waitintervalMs > 0) waves.push({ waitMs: p.conf.waitintervalMs, instances: [] });
    waves[waves.length - 1].instances.push(p);
    p.record.wave = waves.length - 1;
  }
  const records = planned.map((p) => p.record);
  // setupcmds run once, when the run is created, and its cleancmds undo what they made: the two stay a pair.
  // A recipe whose setupcmds changed since then keeps the run's cleancmds (told); with the same setupcmds, its
  // cleancmds are taken (a fix to them). A run recorded by an older build did not keep its setupcmds: unknown.
  const setupcmds = previous ? previous.setupcmds : recipe.setupcmds;
  const setupChanged = !!setupcmds && !sameCommands(setupcmds, recipe.setupcmds);
  const cleancmds = setupChanged ? previous!.cleancmds : recipe.cleancmds;
  const notes = setupChanged
    ? [
        `the recipe's setupcmds changed since the run was brought up: they are not run again (setupcmds run when a run is created), and teardown runs the cleancmds recorded with the setupcmds that ran${sameCommands(cleancmds, recipe.cleancmds) ? '' : ', not the recipe\'s new ones'}; to apply them, tear the run down and run the recipe again`,
      ]
    : [];
  // Where setupcmds ran too: the run's record there tells a later run they did, and teardown takes it away.
  const runServers = [...new Set([...records.map((r) => r.server), ...(setupcmds ?? recipe.setupcmds).map((c) => c.server), ...cleancmds.map((c) => c.server)])].sort();
  const manifest: RunManifest = { ...newManifest(recipe, tag, opts.now, runServers), createdAt: previous?.createdAt ?? opts.now, instances: records, cleancmds, setupcmds };
  const order = Object.keys(config.servers);
  return {
    tag,
    name: recipe.name,
    servers: [...servers.values()].sort((a, b) => order.indexOf(a.server) - order.indexOf(b.server)),
    manifest,
    waves,
    repairs,
    notes,
  };
}

const sameCommands = (a: ServerCommands[], b: ServerCommands[]) => JSON.stringify(a) === JSON.stringify(b);

/** What of an instance's plumbing is not on the server: its namespace, its veth on the bridge, its host route. */
function missingPlumbing(r: InstanceRecord, f: ServerFacts): string[] {
  return [
    ...(f.netns.includes(r.netns) ? [] : [`namespace ${r.netns}`]),
    ...(f.links[r.vethHost] ? [] : [`veth ${r.vethHost}`]),
    ...(!r.mgmtAddr || f.mgmtRoutes.some((a) => normalAddr(a) === normalAddr(r.mgmtAddr)) ? [] : [`host route to ${r.mgmtAddr}`]),
  ];
}

function toRecord(tag: string, conf: InstanceConf, facts: ServerFacts, old: InstanceRecord | undefined, config: ControllerConf): InstanceRecord {
  const names = instanceNames(tag, conf.id, conf.name);
  const link = conf.dataIf ? facts.links[conf.dataIf] : undefined;
  const logdir = conf.myikev2?.logdir || `${DEFAULT_LOG_ROOT}/${tag}/${conf.name}`;
  return {
    id: conf.id,
    name: conf.name,
    server: conf.server,
    kind: conf.kind,
    ...names,
    logdir,
    mgmtAddr: conf.mgmtAddr,
    dataIf: conf.dataIf,
    dataIfAddr: conf.other?.dataifaddr ?? '',
    dataIfOrig: link ? linkState(link) : (old?.dataIfOrig ?? null),
    destroycmds: conf.other?.destroycmds ?? '',
    hash: instanceHash(conf),
    written: writtenHash(conf, config.varlist),
  };
}

/** How an instance differs from the one the run started (nothing: it is the same): where it went, its id, its definition. */
function howItDiffers(conf: InstanceConf, old: InstanceRecord, record: InstanceRecord): string[] {
  return [
    ...(old.server !== conf.server ? [`moved to ${conf.server}`] : []),
    ...(old.id !== conf.id ? [`id ${old.id} → ${conf.id}`] : []),
    // A hash of another build's model differs by itself when this build added a setting: what was written decides then.
    ...(old.hash !== record.hash && old.written !== record.written ? ['its definition (recipe entry or setup file) changed since it was started'] : []),
  ];
}

/** How a data interface was found, for teardown to give it back so. */
function linkState(link: DataIfState): DataIfState {
  return { addrs: link.addrs, up: link.up, ...(link.mtu ? { mtu: link.mtu } : {}), ...(link.routes?.length ? { routes: link.routes } : {}) };
}

export const normalAddr = (a: string) => parseAddress(a)?.addr ?? a;
