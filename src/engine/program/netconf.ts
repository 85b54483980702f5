// Addresses and routes the engine needs on its interface: all tunnel
// addresses are added with ONE `ip -batch` run (≈1 ms instead of one process
// per address), and exactly those we added are removed at the end.
import { spawn } from 'node:child_process';
import { MyikeError } from '../../errors.js';
import { addressBatch } from './policy.js';

function run(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('ip', args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    if (input !== undefined) {
      p.stdin!.on('error', () => undefined); // ip exited early: its status tells why
      p.stdin!.end(input);
    }
  });
}

/** Addresses (without prefix) present on an interface. */
export async function addressesOn(ifname: string): Promise<Set<string>> {
  const r = await run(['-j', 'address', 'show', 'dev', ifname]);
  if (r.code !== 0) throw new MyikeError('E_NETCONF', `interface ${ifname} not usable: ${r.stderr.trim()}`, { hint: 'check bindifname names an interface of this namespace (ip link)' });
  const out = new Set<string>();
  for (const l of JSON.parse(r.stdout || '[]')) for (const a of l.addr_info ?? []) out.add(a.local);
  return out;
}

export async function ipBatch(script: string): Promise<void> {
  if (!script) return;
  const r = await run(['-batch', '-'], script);
  if (r.code !== 0) throw new MyikeError('E_NETCONF', `ip -batch failed: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`, { hint: 'check bindifname and the addresses in the setup file' });
}

/** Adds the missing addresses; returns those it added (to remove them later). */
export async function addAddresses(ifname: string, cidrs: string[]): Promise<string[]> {
  const have = await addressesOn(ifname);
  const missing = cidrs.filter((c) => !have.has(c.split('/')[0]));
  await ipBatch(addressBatch('add', ifname, missing));
  return missing;
}

export async function removeAddresses(ifname: string, cidrs: string[]): Promise<void> {
  if (!cidrs.length) return;
  // Secondaries first (removing a primary address takes its secondaries with
  // it); -force: go on after an address that is already gone.
  const r = await run(['-force', '-batch', '-'], addressBatch('del', ifname, [...cidrs].reverse()));
  const real = r.stderr.split('\n').filter((l) => l.startsWith('Error') && !/Address not found|Cannot assign/.test(l));
  if (r.code !== 0 && real.length) throw new MyikeError('E_NETCONF', `removing addresses failed: ${r.stderr.trim()}`);
}

/** `ip route replace <staticroute>` (the loader allows only plain words). */
export async function addStaticRoute(route: string): Promise<void> {
  const r = await run(['route', 'replace', ...route.trim().split(/\s+/)]);
  if (r.code !== 0) throw new MyikeError('E_NETCONF', `ip route replace ${route} failed: ${r.stderr.trim()}`, { hint: 'check staticroute in the setup file' });
}
