// Pure script generators: plan → the shell scripts run on each server.
import type { NetnsBatch } from '../daemon/protocol.js';
import { parseCidr } from '../model/address.js';
import { addressBatch, engineAddresses } from '../engine/program/policy.js';
import type { InstanceRecord } from './manifest.js';
import type { PlannedInstance } from './plan.js';
import { BRIDGE_LINK_LOCAL, DEFAULT_LOG_ROOT, MGMT_BRIDGE, MGMT_IF_IN_NS, runLinkGroup, SERVER_LOCK_DIR, SERVER_RUNS_DIR } from './names.js';
import { shq as shellQuote } from '../transport/transport.js';
import { plainWords, render, template } from './templates.js';

/** The awk functions both teardown and its verification use to leave their own processes alone. */
const NOT_THIS_SCRIPT = () => template('run/not-this-script.awk').trimEnd();

function instanceValues(r: InstanceRecord, mgmtPrefixLen: number) {
  return {
    netns: r.netns,
    vethHost: r.vethHost,
    mgmtIf: MGMT_IF_IN_NS,
    bridge: MGMT_BRIDGE,
    gateway: BRIDGE_LINK_LOCAL,
    mgmtAddr: r.mgmtAddr,
    mgmtPrefixLen,
    dataIf: r.dataIf ?? '',
    dataIfAddr: r.dataIfAddr,
  };
}

/** The script that creates the namespaces, veths, routes and data interfaces of instances on one server. */
export function renderPlumbScript(tag: string, server: string, mgmtPrefix: string, instances: InstanceRecord[]): string {
  const prefixLen = parseCidr(mgmtPrefix)?.prefixLen ?? 64;
  const group = runLinkGroup(tag);
  const baseBatch = instances.map((r) => render('run/base-instance.batch', { ...instanceValues(r, prefixLen), group }).trim()).join('\n');
  const runDirs = instances.map((r) => shellQuote(r.runDir)).join(' ');
  return render('run/plumb.sh', { tag, server, count: instances.length, bridge: MGMT_BRIDGE, gateway: BRIDGE_LINK_LOCAL, lockDir: SERVER_LOCK_DIR }, { baseBatch, runDirs });
}

/**
 * What each namespace needs inside it (an `ip -batch` text each); the daemon
 * runs them after the plumbing script. An engine instance's addresses and
 * static route are set here too (it runs with `--no-netconf`): no `ip`
 * process of its own at start and stop. Every line may run again (replace,
 * not add): a restarted instance's namespace is configured anew, without
 * the engine's addresses (a restarted engine adds those it misses itself).
 */
export function renderNamespaceBatches(instances: PlannedInstance[], mgmtPrefix: string, opts: { engineAddresses: boolean } = { engineAddresses: true }): NetnsBatch[] {
  const prefixLen = parseCidr(mgmtPrefix)?.prefixLen ?? 64;
  return instances.map(({ record: r, conf }) => {
    const lines = [render('run/ns-instance.batch', instanceValues(r, prefixLen)).trim()];
    const setup = conf.myikev2?.setup;
    if (setup && r.dataIf && opts.engineAddresses) {
      const adds = addressBatch('add', r.dataIf, engineAddresses(setup)).trimEnd();
      if (adds) lines.push(adds);
      if (setup.staticroute) lines.push(`route replace ${setup.staticroute}`);
    }
    return { netns: r.netns, commands: lines.join('\n') + '\n' };
  });
}

/** The same as a script, one `ip -n` process per namespace: for daemons without `netns.configure`, and for --dry-run. */
export function renderNamespaceScript(tag: string, server: string, batches: NetnsBatch[]): string {
  const nsJobs = batches.map((b) => render('run/ns-job.sh', { netns: b.netns }, { nsBatch: b.commands.trim() }).trim()).join('\n');
  return render('run/ns-config.sh', { tag, server, count: batches.length }, { nsJobs });
}

/** Precedes the base64 .tar.gz of the instances' logs in a teardown script's output. */
export const LOGS_MARKER = '@@myikev2-logs@@';

/**
 * The script that removes instances of a run from one server and gives data
 * interfaces back. wholeRun: these are all the run's instances on the server,
 * so its veths may go by link group. saveLogs: first it prints LOGS_MARKER
 * and the instances' default log directories as a base64 .tar.gz line.
 */
export function renderTeardownScript(tag: string, server: string, instances: InstanceRecord[], { wholeRun = false, saveLogs = false } = {}): string {
  const netnsBatch = instances.map((r) => `netns del ${r.netns}`).join('\n');
  const routeBatch = instances.map((r) => render('run/teardown-route.batch', instanceValues(r, 0)).trim()).filter(Boolean).join('\n');
  const dataIfReturns = instances
    .filter((r) => r.dataIf)
    .map((r) => {
      const orig = r.dataIfOrig ?? { addrs: [], up: false };
      const restore = (values: { state?: string; mtu?: number }, raw: { addr?: string; route?: string } = {}) =>
        render('run/restore-dataif.batch', { state: '', mtu: '', dataIf: r.dataIf!, ...values }, { addr: '', route: '', ...raw }).trim();
      // The MTU first (an IPv6 address needs 1280 or more), addresses, then up/down, then the routes through it (they need the link up and its addresses).
      const restoreBatch = [
        ...(orig.mtu ? [restore({ mtu: orig.mtu })] : []),
        ...orig.addrs.map((addr) => restore({}, { addr: plainWords(addr) })),
        restore({ state: orig.up ? 'up' : 'down' }),
        ...(orig.routes ?? []).map((route) => restore({}, { route: plainWords(route) })),
      ].join('\n');
      return render('run/return-dataif.sh', { netns: r.netns, dataIf: r.dataIf! }, { restoreBatch }).trim();
    })
    .join('\n');
  const logRoot = `${DEFAULT_LOG_ROOT}/${tag}`;
  const instanceDirs = runFiles(tag, instances);
  const logNames = instances.filter((r) => hasDefaultLogdir(tag, r)).map((r) => shellQuote(r.logdir.slice(logRoot.length + 1)));
  const emptyDirs = [`${SERVER_RUNS_DIR}/${tag}`, SERVER_RUNS_DIR, logRoot, DEFAULT_LOG_ROOT];
  return render(
    'run/teardown.sh',
    { tag, server, count: instances.length, bridge: MGMT_BRIDGE, lockDir: SERVER_LOCK_DIR, group: wholeRun ? runLinkGroup(tag) : '', whole: wholeRun ? 'yes' : '', logsMarker: LOGS_MARKER, logRoot },
    {
      logNames: saveLogs ? logNames.join(' ') : '',
      ids: instances.map((r) => r.id).join('|') || 'none',
      netnsPaths: instances.map((r) => shellQuote(`/run/netns/${r.netns}`)).join(' '),
      dataIfReturns,
      netnsBatch,
      routeBatch,
      instanceDirs: instanceDirs.map(shellQuote).join(' '),
      notThisScript: NOT_THIS_SCRIPT(),
      emptyDirs: emptyDirs.join(' '),
    },
  );
}

/** The instance's logs are in the run's default log directory (not a `logdir` of its own, which teardown leaves alone). */
export const hasDefaultLogdir = (tag: string, r: InstanceRecord) => r.logdir.startsWith(`${DEFAULT_LOG_ROOT}/${tag}/`);

/** The directories a run made for its instances on a server: run directories, default log directories. */
function runFiles(tag: string, instances: InstanceRecord[]): string[] {
  return instances.flatMap((r) => [r.runDir, ...(hasDefaultLogdir(tag, r) ? [r.logdir] : [])]);
}

/** The script that prints what is left of a run on one server, one `KIND NAME` line each. */
export function renderVerifyScript(tag: string, server: string, instances: InstanceRecord[]): string {
  const mgmtAddrs = instances.map((r) => r.mgmtAddr).filter(Boolean);
  const runAddrs = [...mgmtAddrs, ...instances.map((r) => r.dataIfAddr.replace(/\/\d+$/, '')).filter(Boolean)];
  const dirs = [`${SERVER_RUNS_DIR}/${tag}`, ...runFiles(tag, instances)];
  return render('run/verify.sh', { tag, server }, { mgmtAddrs: shellQuote(mgmtAddrs.join(' ')), runAddrs: shellQuote(runAddrs.join(' ')), notThisScript: NOT_THIS_SCRIPT(), dirs: dirs.map(shellQuote).join(' ') || '/.none' });
}
