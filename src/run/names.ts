// Names of everything a run creates, derived from the run's tag so teardown
// can find them by tag even when the recipe was edited or lost. Interface
// names stay within Linux's 15 bytes.
import { createHash } from 'node:crypto';

export const MGMT_BRIDGE = 'myikev2mgmtbrg';

/**
 * The link group of a run's host veth ends ("my" + the tag's hex digits), so
 * teardown deletes them all in one kernel operation: one by one each costs
 * an RCU grace period, and waiting for namespace cleanup to do it is slower.
 */
export function runLinkGroup(tag: string): number {
  return 0x6d790000 + parseInt(tag.slice(1), 16);
}

/** The management veth's end inside an instance's namespace. */
export const MGMT_IF_IN_NS = 'mgmt0';
/** Link-local address on the bridge: the namespaces' default gateway. */
export const BRIDGE_LINK_LOCAL = 'fe80::1';
/** Where runs keep per-instance files on a server (setup files, API sockets). */
export const SERVER_RUNS_DIR = '/run/myikev2/runs';
export const DEFAULT_LOG_ROOT = '/var/log/myikev2';
/**
 * Runs sharing a server's bridge take turns (flock) creating it, attaching
 * to it and deleting it. The lock is on /run itself: it exists on every
 * server, so no lock file is left behind, and a lab server has its own.
 */
export const SERVER_LOCK_DIR = '/run';

/** "m" + 4 hex digits of the recipe name's SHA-256: short, stable, a valid name prefix. */
export function runTag(recipeName: string): string {
  return 'm' + createHash('sha256').update(recipeName).digest('hex').slice(0, 4);
}

export interface InstanceNames {
  netns: string; // network namespace
  vethHost: string; // management veth end on the bridge (base namespace)
  daemonName: string; // the instance's name in the server's daemon
  runDir: string; // per-instance directory on the server
}

export function instanceNames(tag: string, id: number, name: string): InstanceNames {
  return {
    netns: `${tag}-${name}`,
    vethHost: `${tag}h${id}`,
    daemonName: `${tag}-${name}`,
    runDir: `${SERVER_RUNS_DIR}/${tag}/${name}`,
  };
}

export function manifestKey(tag: string): string {
  return `run/${tag}`;
}
