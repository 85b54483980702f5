// Loads the controller config, or gives the embedded default: one server
// `local`, the controller's own machine, reached without SSH.
import { readFileSync } from 'node:fs';
import { ssh2 } from '../ssh2-lib.js';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { parseAddress, parseCidr, rangeOf } from './address.js';
import type { ControllerConf, ServerConf } from './config-types.js';
import { semanticPass, validateAgainstSchema } from './schema.js';
import { MyikeError } from '../errors.js';
import { isReadableByOthers } from '../file-mode.js';
import { Diagnostics, readYaml, statPath, type SourceDoc } from './source.js';
import { normaliseVarlist } from './vars.js';

/** A DNS host name (RFC 1123 labels), as sshaddr may give instead of an address. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Ranges (by ipaddr.js's names) whose addresses cannot be management addresses, as a message names them. */
const UNUSABLE_MGMT_RANGES = new Map([['multicast', 'a multicast'], ['linkLocal', 'a link-local'], ['loopback', 'the loopback'], ['unspecified', 'the unspecified'], ['ipv4Mapped', 'an IPv4-mapped']]);

export const EMBEDDED_CONFIG_NAME = '<embedded default>';

/** ULA prefix of the embedded default ("myikev2" in hex, more or less). */
export const EMBEDDED_MGMT_PREFIX = 'fd6d:7969:6b65:7632::/64';

export function embeddedConfig(): ControllerConf {
  return {
    file: EMBEDDED_CONFIG_NAME,
    servers: {
      local: {
        name: 'local',
        connection: 'local',
        daemonaddr: '',
        daemonport: 12240,
        sshaddr: '',
        sshport: 22,
        sshuser: 'root',
        hostkeycheck: 'strict',
        statedir: '/var/lib/myikev2/daemon',
        mgmtaddrprefix: EMBEDDED_MGMT_PREFIX,
      },
    },
    varlist: {},
    autoassignmgmtip: true,
  };
}

/** Reads a controller config (or the embedded default when file is undefined). */
export function readControllerConfig(file: string | undefined, diag: Diagnostics): { config: ControllerConf | null; src: SourceDoc | null } {
  if (file === undefined) return { config: embeddedConfig(), src: null };
  const src = readYaml(file, diag);
  if (!src.ok) return { config: null, src };
  const schema = validateAgainstSchema('controller', src, diag);
  if (!schema) return { config: null, src };
  return { config: semanticPass(schema, diag, (d) => toConfig(file, src, d)), src };
}

function toConfig(file: string, src: SourceDoc, diag: Diagnostics): ControllerConf | null {
  const raw = src.data as { daemonlist: Record<string, Record<string, any>>; varlist: Record<string, unknown>; autoassignmgmtip: boolean }; // eslint-disable-line @typescript-eslint/no-explicit-any
  const dir = dirname(resolvePath(file));
  const before = diag.errors.length;
  const servers: Record<string, ServerConf> = {};
  let hasPassword = false;
  for (const [name, s] of Object.entries(raw.daemonlist)) {
    const at = ['daemonlist', name];
    const prefix = parseCidr(s.mgmtaddrprefix);
    if (!prefix || prefix.family !== 6)
      diag.error(src, [...at, 'mgmtaddrprefix'], { message: `"${s.mgmtaddrprefix}" is not an IPv6 prefix`, expected: 'an IPv6 prefix such as 2001:db8:1::/64' });
    // Such an address cannot go on an instance's veth (multicast, ::1), or clashes with the bridge's fe80::1 gateway.
    else if (UNUSABLE_MGMT_RANGES.has(rangeOf(prefix.addr)))
      diag.error(src, [...at, 'mgmtaddrprefix'], {
        message: `"${s.mgmtaddrprefix}" is ${UNUSABLE_MGMT_RANGES.get(rangeOf(prefix.addr))} prefix: its addresses cannot be management addresses`,
        expected: 'a global or unique local IPv6 prefix such as 2001:db8:1::/64 or fd00:1::/64',
      });
    if (s.connection === 'ssh' && s.sshaddr === '')
      diag.error(src, [...at, 'sshaddr'], { at: 'parent', message: 'missing required key "sshaddr"', hint: 'give the server\'s SSH address, or `connection: local` for the controller\'s own machine' });
    else if (s.sshaddr !== '' && !parseAddress(s.sshaddr) && !HOST_NAME.test(s.sshaddr))
      diag.error(src, [...at, 'sshaddr'], {
        message: `"${s.sshaddr}" is neither an IP address nor a host name`,
        expected: 'e.g. 192.0.2.1, 2001:db8::1 or server1.example.com',
        hint: /^\[.*\]$/.test(s.sshaddr) ? 'write an IPv6 address without brackets (the port goes in sshport)' : undefined,
      });
    // The daemon runs in / and its start script in the SSH user's home: a relative path would be two places.
    // ssh would take "root@host" or "a b" apart differently than meant.
    if (s.sshuser !== '' && /[\s:@/\x00-\x1f]/.test(s.sshuser))
      diag.error(src, [...at, 'sshuser'], { message: `"${s.sshuser}" is not a user name`, expected: 'a user name such as root', hint: /@/.test(s.sshuser) ? 'the address goes in sshaddr, the port in sshport' : undefined });
    if (!isAbsolute(s.statedir))
      diag.error(src, [...at, 'statedir'], { message: `"${s.statedir}" is not an absolute path`, expected: 'an absolute path on the server, e.g. /var/lib/myikev2/daemon, the default' });
    else if (resolvePath(s.statedir) === '/')
      diag.error(src, [...at, 'statedir'], { message: 'is the root directory: the daemon would keep its lock, state, log and manifests right in /', expected: 'a directory of its own, e.g. /var/lib/myikev2/daemon, the default' });
    const keyPath = s.sshkeypath ? absolute(dir, s.sshkeypath) : undefined;
    const { stat: keyStat, problem: keyPathProblem } = keyPath ? statPath(keyPath) : {};
    if (keyPath && keyPathProblem)
      diag.error(src, [...at, 'sshkeypath'], { message: `cannot be used: ${keyPathProblem}`, expected: 'the path of a private key file' });
    else if (keyPath && !keyStat)
      diag.error(src, [...at, 'sshkeypath'], { message: `key file not found: ${keyPath}`, hint: 'check the path (relative paths are relative to this config file)' });
    else if (keyPath && !keyStat!.isFile())
      diag.error(src, [...at, 'sshkeypath'], { message: `${keyPath} is not a file`, expected: 'the path of a private key file', hint: 'check the path (relative paths are relative to this config file)' });
    else if (keyPath && unusableKey(keyPath)) {
      const why = unusableKey(keyPath)!;
      diag.error(src, [...at, 'sshkeypath'], { message: `${keyPath} cannot be used: ${why.message}`, expected: 'an unencrypted OpenSSH or PEM private key file', hint: why.hint });
    }
    // OpenSSH refuses such a key ("UNPROTECTED PRIVATE KEY FILE"); it works here, but should not stay so.
    else if (keyPath && isReadableByOthers(keyPath)) diag.warn(src, [...at, 'sshkeypath'], `the private key ${keyPath} is readable by group or others; run: chmod 600 ${keyPath}`);
    const knownHosts = s.knownhosts ? absolute(dir, s.knownhosts) : undefined;
    const { stat: knownStat, problem: knownProblem } = knownHosts ? statPath(knownHosts) : {};
    // A file that does not exist yet is fine: the host key check names it (and accept-new writes it).
    if (knownHosts && (knownProblem || (knownStat && !knownStat.isFile())))
      diag.error(src, [...at, 'knownhosts'], {
        message: knownProblem ? `cannot be used: ${knownProblem}` : `${knownHosts} is not a file`,
        expected: 'the path of a known_hosts file',
        hint: 'check the path (relative paths are relative to this config file)',
      });
    if (s.sshpass) hasPassword = true;
    servers[name] = {
      name,
      connection: s.connection,
      daemonaddr: s.daemonaddr,
      daemonport: s.daemonport,
      sshaddr: s.sshaddr,
      sshport: s.sshport,
      sshuser: s.sshuser,
      sshpass: s.sshpass || undefined,
      sshkeypath: keyPath,
      knownhosts: knownHosts,
      hostkeycheck: s.hostkeycheck,
      statedir: s.statedir,
      mgmtaddrprefix: s.mgmtaddrprefix,
    };
  }
  const varNames = new Map<string, string>();
  for (const key of Object.keys(raw.varlist)) {
    const name = key.replace(/^%|%$/g, '');
    if (varNames.has(name))
      diag.error(src, ['varlist', key], { at: 'key', message: `"${key}" is the variable "${varNames.get(name)}" again (the percent signs are optional)`, hint: 'keep one of the two' });
    else varNames.set(name, key);
  }
  if (hasPassword && isReadableByOthers(file))
    diag.warn(src, ['daemonlist'], `${file} holds an SSH password (sshpass) and is readable by group or others; run: chmod 600 ${file}`);
  if (diag.errors.length > before) return null;
  return { file: resolvePath(file), servers, varlist: normaliseVarlist(raw.varlist), autoassignmgmtip: raw.autoassignmgmtip };
}

const keyVerdicts = new Map<string, { message: string; hint: string } | null>();

/** Why a private key file cannot be used for SSH (as the SSH transport would find when connecting), or null. */
function unusableKey(keyPath: string): { message: string; hint: string } | null {
  if (!keyVerdicts.has(keyPath)) keyVerdicts.set(keyPath, keyProblem(keyPath));
  return keyVerdicts.get(keyPath)!;
}

function keyProblem(keyPath: string): { message: string; hint: string } | null {
  let text: Buffer;
  try {
    text = readFileSync(keyPath);
  } catch (e) {
    return { message: (e as Error).message, hint: 'make the file readable by the user running myikev2' };
  }
  const parsed = ssh2().utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key && !(key instanceof Error) && key.getPrivatePEM() !== null) return null;
  const why = key instanceof Error ? key.message : 'not a private key';
  if (/passphrase|encrypted/i.test(why))
    return { message: 'the key is protected by a passphrase', hint: 'load it into an ssh-agent (ssh-add) and remove sshkeypath, or give an unencrypted key' };
  return { message: why, hint: 'give the path of an OpenSSH/PEM private key (not the .pub file)' };
}

/** The key of a server's entry that an SSH error (by its code) is about: where the user fixes it. */
function sshErrorKey(e: MyikeError, entry: Record<string, unknown>): string | undefined {
  switch (e.code) {
    case 'E_SSH_CONNECT':
      return /ECONNREFUSED/.test(e.message) ? 'sshport' : 'sshaddr';
    case 'E_SSH_AUTH':
      // A password refused is fixed at sshpass (its value masked in the excerpt), a key at sshkeypath.
      return entry.sshpass && !entry.sshkeypath ? 'sshpass' : 'sshkeypath';
    case 'E_SSH_KEY':
      return 'sshkeypath';
    case 'E_HOSTKEY_UNKNOWN':
      return 'hostkeycheck';
    case 'E_HOSTKEY_MISMATCH':
    case 'E_HOSTKEY_REVOKED':
    case 'E_HOSTKEY_RECORD':
      return 'knownhosts';
    default:
      return undefined;
  }
}

/**
 * An SSH error of a server, placed on the config line to fix (`sshport` of a
 * refused connection, `knownhosts` of a changed host key, …; the server's
 * entry when the key is not written there): FILE:LINE:COL: error: KEY: … .
 * Any other error, or one the file does not tell, is given back as it is.
 */
export function placeInConfig(e: MyikeError, file: string | undefined): MyikeError {
  if (!e.server || e.location || !file || !sshErrorKey(e, {})) return e;
  const diag = new Diagnostics();
  const src = readYaml(file, diag);
  const servers = (src.data as { daemonlist?: Record<string, Record<string, unknown>> } | null)?.daemonlist;
  if (!src.ok || !servers?.[e.server]) return e;
  const key = sshErrorKey(e, servers[e.server])!;
  const path = ['daemonlist', e.server, ...(key in servers[e.server] ? [key] : [])];
  diag.error(src, path, { message: e.message, hint: e.hint });
  const placed = diag.errors[diag.errors.length - 1];
  return new MyikeError(e.code, placed.message, { ...e, cause: e.cause, location: placed.location, keyPath: placed.keyPath, excerpt: placed.excerpt, hint: e.hint });
}

/** action()'s placer for commands with -c/--config: an SSH error of a server points at the config line to fix. */
export const placeByConfigOption = (e: MyikeError, opts: { config?: unknown }): MyikeError => (typeof opts.config === 'string' ? placeInConfig(e, opts.config) : e);

function absolute(dir: string, p: string): string {
  if (p === '~' || p.startsWith('~/')) return resolvePath(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolvePath(dir, p);
}
