// OpenSSH known_hosts: parsing, host matching (plain, [host]:port, wildcards,
// hashed |1|salt|hash), key fingerprints, and serialised atomic appends.
// Format: sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT".
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

export interface KnownHostEntry {
  lineNo: number; // 1-based
  marker?: 'cert-authority' | 'revoked';
  hosts: string; // the raw host field (patterns or one hashed name)
  keyType: string;
  key: Buffer; // the SSH wire-format public key blob
}

export type HostKeyVerdict =
  | { status: 'match' }
  | { status: 'unknown' } // no entry names this host
  | { status: 'mismatch'; known: KnownHostEntry[] } // host known, with other key(s)
  | { status: 'revoked' };

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const f = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (f[0].startsWith('@')) {
      if (f[0] !== '@cert-authority' && f[0] !== '@revoked') return;
      marker = f.shift()!.slice(1) as KnownHostEntry['marker'];
    }
    if (f.length < 3) return;
    const key = Buffer.from(f[2], 'base64');
    // Skip lines whose blob does not start with its own declared type (corrupt).
    if (keyTypeOf(key) !== f[1]) return;
    out.push({ lineNo: i + 1, marker, hosts: f[0], keyType: f[1], key });
  });
  return out;
}

/** The name OpenSSH records: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function hashHostName(name: string, salt: Buffer = randomBytes(20)): string {
  const mac = createHmac('sha1', salt).update(name).digest('base64');
  return `|1|${salt.toString('base64')}|${mac}`;
}

function globMatch(pattern: string, s: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(s);
}

/** Does a known_hosts host field name `name` (as given by knownHostName)? */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, mac] = field.split('|');
    if (!salt || !mac) return false;
    return hashHostName(name, Buffer.from(salt, 'base64')) === field;
  }
  let matched = false;
  for (const pat of field.split(',')) {
    if (pat.startsWith('!')) {
      if (globMatch(pat.slice(1), name)) return false;
    } else if (globMatch(pat, name)) {
      matched = true;
    }
  }
  return matched;
}

export function checkHostKey(entries: KnownHostEntry[], name: string, presented: Buffer): HostKeyVerdict {
  const mine = entries.filter((e) => e.marker !== 'cert-authority' && hostFieldMatches(e.hosts, name));
  if (mine.some((e) => e.marker === 'revoked' && e.key.equals(presented))) return { status: 'revoked' };
  const keys = mine.filter((e) => e.marker === undefined);
  if (keys.some((e) => e.key.equals(presented))) return { status: 'match' };
  return keys.length ? { status: 'mismatch', known: keys } : { status: 'unknown' };
}

/** Host key algorithms to offer first so the server shows a key we already know (as OpenSSH does). */
export function preferredHostKeyAlgorithms(entries: KnownHostEntry[], name: string): string[] {
  const algos: string[] = [];
  for (const e of entries) {
    if (e.marker || !hostFieldMatches(e.hosts, name)) continue;
    const a = e.keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [e.keyType];
    for (const x of a) if (!algos.includes(x)) algos.push(x);
  }
  return algos;
}

/** The key type string at the start of an SSH public key blob. */
export function keyTypeOf(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const n = blob.readUInt32BE(0);
  if (n === 0 || n > 64 || 4 + n > blob.length) return undefined;
  return blob.subarray(4, 4 + n).toString('latin1');
}

/** OpenSSH's fingerprint format: `SHA256:` + unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export function knownHostsLine(name: string, blob: Buffer, hashed = false): string {
  return `${hashed ? hashHostName(name) : name} ${keyTypeOf(blob)} ${blob.toString('base64')}`;
}

const inProcess = new Map<string, Promise<unknown>>();

/** Run `fn` holding both an in-process lock and a lock file next to `file`. */
async function withFileLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const prev = inProcess.get(file) ?? Promise.resolve();
  const run = prev.catch(() => undefined).then(async () => {
    const lock = `${file}.lock`;
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await (await fsp.open(lock, 'wx', 0o600)).close();
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        // A lock older than 30 s was left by a crashed process.
        const st = await fsp.stat(lock).catch(() => undefined);
        if (st && Date.now() - st.mtimeMs > 30_000) await fsp.rm(lock, { force: true });
        if (Date.now() > deadline) throw new Error(`known_hosts lock ${lock} is held by another process`);
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
      }
    }
    try {
      return await fn();
    } finally {
      await fsp.rm(lock, { force: true });
    }
  });
  inProcess.set(file, run);
  try {
    return await run;
  } finally {
    if (inProcess.get(file) === run) inProcess.delete(file);
  }
}

/**
 * Record `blob` for `name` unless an entry already names it (checked under
 * the lock, so parallel first connections add one line). Writes a temp file
 * and renames it: a reader never sees half a file. Returns whether it added.
 */
export async function addKnownHost(file: string, name: string, blob: Buffer): Promise<boolean> {
  await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  return withFileLock(file, async () => {
    const text = await fsp.readFile(file, 'utf8').catch((e) => {
      if (e.code === 'ENOENT') return '';
      throw e;
    });
    const verdict = checkHostKey(parseKnownHosts(text), name, blob);
    if (verdict.status === 'match') return false;
    if (verdict.status !== 'unknown') throw new Error(`host ${name} already has a different key in ${file}`);
    const mode = (await fsp.stat(file).catch(() => undefined))?.mode ?? 0o644;
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fh = await fsp.open(tmp, 'w', mode & 0o777);
    try {
      await fh.writeFile(`${text}${text && !text.endsWith('\n') ? '\n' : ''}${knownHostsLine(name, blob)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
    return true;
  });
}

export async function readKnownHosts(file: string): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await fsp.readFile(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
