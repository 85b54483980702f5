// What a run can leave on this machine, filtered to its own names (other
// suites may create namespaces at the same time on a shared machine).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { CLI, PROJECT_ROOT, tempPath } from './paths.js';

export function sh(cmd: string): string {
  return spawnSync('sh', ['-c', cmd], { encoding: 'utf8' }).stdout;
}

/** Namespaces, links, routes, directories and processes of a run (by tag and name prefixes). */
export function localRunState(tag: string, linkPrefix: string): string {
  const mine = `grep -E '^(${tag}|${linkPrefix}|myikev2)' || true`;
  return [
    sh(`ip netns list | awk '{print $1}' | ${mine} | sort`),
    sh(`ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | ${mine} | sort`),
    sh("ip -6 route show | grep -E 'fd6d:7969:6b65:7632|myikev2' | sort"),
    sh(`ls -d /run/myikev2/runs/${tag} /var/log/myikev2/${tag} 2>/dev/null`),
    // Every process of an instance carries its run's tag in its environment.
    sh(`grep -l -a 'MYIKEV2_TAG=${tag}' /proc/[0-9]*/environ 2>/dev/null | wc -l`),
  ].join('---\n');
}

/**
 * The myikev2 command line as a user runs it, with a controller state
 * directory of its own (so tests never touch the user's runs); call
 * `cleanup()` once the test's teardown is done.
 */
export function controllerCli(): { myikev2: (...args: string[]) => SpawnSyncReturns<string>; stateDir: string; cleanup: () => void } {
  const stateDir = tempPath('myikev2-ctl-'); // made on first use: see tempPath
  const env = { ...process.env, MYIKEV2_STATE_DIR: stateDir };
  return {
    myikev2: (...args) => (mkdirSync(stateDir, { recursive: true, mode: 0o700 }), spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: PROJECT_ROOT, env })),
    stateDir,
    cleanup: () => rmSync(stateDir, { recursive: true, force: true }),
  };
}
