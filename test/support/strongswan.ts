// Real strongSwan (Debian's charon 5.9.8) for interop tests, plus the network
// namespaces and veth pairs they run in. Everything is named with a unique
// tag; only what this module created is removed, and removal is verified.
//
//   const net = await createNetnsPair({ addrA: '172.31.0.1/16', addrB: '172.31.0.2/16' });
//   const sw = await startCharon({ ns: net.nsB, dir, swanctlConf });
//   await sw.loadConfig();                 // swanctl --load-all
//   await sw.initiate('child-name');       // swanctl --initiate
//   const sas = await sw.listSas();        // parsed `swanctl --list-sas --raw`
//   await sw.stop(); await net.destroy();
//
// Each charon gets a private /run (tmpfs, inside `ip netns exec`'s own mount
// namespace), its own STRONGSWAN_CONF and its own VICI socket in `dir`, and
// uses kernel-libipsec (user-space ESP over TUN, UDP-encapsulated with
// `encap = yes`), since these kernels have no ESP.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const CHARON = '/usr/lib/ipsec/charon';
export const SWANCTL = '/usr/sbin/swanctl';

export function uniqueTag(): string {
  return `${(process.pid % 10000).toString(36)}${randomBytes(2).toString('hex')}`;
}

export async function ip(args: string[]): Promise<string> {
  const { stdout } = await run('ip', args, { timeout: 20_000 });
  return stdout;
}

export async function netnsExists(name: string): Promise<boolean> {
  const out = await ip(['netns', 'list']);
  return out.split('\n').some((l) => l.split(' ')[0] === name);
}

export interface NetnsPair {
  tag: string;
  nsA: string;
  nsB: string;
  ifA: string;
  ifB: string;
  /** Removes both namespaces (the veth pair goes with them) and checks they are gone. */
  destroy(): Promise<void>;
}

/** Two namespaces joined by a veth pair; addresses with prefix (optional). Loopback up. */
export async function createNetnsPair(o: { addrA?: string; addrB?: string; tag?: string } = {}): Promise<NetnsPair> {
  const tag = o.tag ?? uniqueTag();
  const nsA = `mi7${tag}a`;
  const nsB = `mi7${tag}b`;
  const ifA = `mi7${tag}a`.slice(0, 15);
  const ifB = `mi7${tag}b`.slice(0, 15);
  const created: string[] = [];
  const destroy = async () => {
    for (const ns of created) await ip(['netns', 'del', ns]).catch(() => undefined);
    for (const ns of created) if (await netnsExists(ns)) throw new Error(`namespace ${ns} still exists after removal`);
  };
  try {
    for (const ns of [nsA, nsB]) {
      await ip(['netns', 'add', ns]);
      created.push(ns);
    }
    const batch = [
      `link add ${ifA} netns ${nsA} type veth peer name ${ifB} netns ${nsB}`,
    ].join('\n');
    await new Promise<void>((resolve, reject) => {
      const p = spawn('ip', ['-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      p.on('close', (c) => (c === 0 ? resolve() : reject(new Error(`ip -batch: ${err}`))));
      p.stdin.end(batch + '\n');
    });
    for (const [ns, ifn, addr] of [[nsA, ifA, o.addrA], [nsB, ifB, o.addrB]] as const) {
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', ns, 'link', 'set', ifn, 'up']);
      if (addr) await ip(['-n', ns, 'address', 'add', addr, 'dev', ifn]);
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return { tag, nsA, nsB, ifA, ifB, destroy };
}

export interface SwanSa {
  name: string;
  uniqueid: string;
  state: string; // ESTABLISHED …
  localHost: string;
  remoteHost: string;
  localPort: string;
  remotePort: string;
  encrAlg?: string;
  encrKeysize?: string;
  integAlg?: string;
  prfAlg?: string;
  dhGroup?: string;
  initiatorSpi: string;
  responderSpi: string;
  children: SwanChild[];
  raw: Record<string, unknown>;
}

export interface SwanChild {
  name: string;
  state: string; // INSTALLED …
  mode: string;
  encap: boolean;
  spiIn: string;
  spiOut: string;
  encrAlg?: string;
  encrKeysize?: string;
  integAlg?: string;
  localTs: string[];
  remoteTs: string[];
  bytesIn: number;
  packetsIn: number;
  packetsOut: number;
}

type Raw = { [k: string]: string | string[] | Raw };

/** Parses swanctl's --raw output: `name {k=v k [a b] sub {…}}` (values have no spaces). */
export function parseRaw(text: string): Raw[] {
  const out: Raw[] = [];
  const tokens = text.match(/\{|\}|\[|\]|[^\s{}[\]]+/g) ?? [];
  let i = 0;
  const block = (): Raw => {
    const obj: Raw = {};
    while (i < tokens.length && tokens[i] !== '}') {
      let t = tokens[i++];
      if (t.endsWith('=') && tokens[i] === '[') t = t.slice(0, -1); // k=[a b]
      const eq = t.indexOf('=');
      if (eq > 0) obj[t.slice(0, eq)] = t.slice(eq + 1);
      else if (tokens[i] === '{') {
        i++;
        obj[t] = block();
        i++; // }
      } else if (tokens[i] === '[') {
        i++;
        const list: string[] = [];
        while (i < tokens.length && tokens[i] !== ']') list.push(tokens[i++]);
        i++;
        obj[t] = list;
      } else if (t.endsWith('=')) obj[t.slice(0, -1)] = '';
    }
    return obj;
  };
  while (i < tokens.length) {
    // each message: "<type> event {" or "<name> reply {"
    while (i < tokens.length && tokens[i] !== '{') i++;
    if (i >= tokens.length) break;
    i++;
    out.push(block());
    i++;
  }
  return out;
}

function toSa(name: string, r: Raw): SwanSa {
  const s = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : undefined);
  const children = Object.values((r['child-sas'] as Raw) ?? {}).map((c) => {
    const cr = c as Raw;
    const cs = (k: string) => (typeof cr[k] === 'string' ? (cr[k] as string) : '');
    return {
      name: cs('name'),
      state: cs('state'),
      mode: cs('mode'),
      encap: cs('encap') === 'yes',
      spiIn: cs('spi-in'),
      spiOut: cs('spi-out'),
      encrAlg: cs('encr-alg') || undefined,
      encrKeysize: cs('encr-keysize') || undefined,
      integAlg: cs('integ-alg') || undefined,
      localTs: (cr['local-ts'] as string[]) ?? [],
      remoteTs: (cr['remote-ts'] as string[]) ?? [],
      bytesIn: Number(cs('bytes-in') || 0),
      packetsIn: Number(cs('packets-in') || 0),
      packetsOut: Number(cs('packets-out') || 0),
    };
  });
  return {
    name,
    uniqueid: s('uniqueid') ?? '',
    state: s('state') ?? '',
    localHost: s('local-host') ?? '',
    remoteHost: s('remote-host') ?? '',
    localPort: s('local-port') ?? '',
    remotePort: s('remote-port') ?? '',
    encrAlg: s('encr-alg'),
    encrKeysize: s('encr-keysize'),
    integAlg: s('integ-alg'),
    prfAlg: s('prf-alg'),
    dhGroup: s('dh-group'),
    initiatorSpi: s('initiator-spi') ?? '',
    responderSpi: s('responder-spi') ?? '',
    children,
    raw: r,
  };
}

export interface Charon {
  pid: number;
  ns: string;
  dir: string;
  vici: string;
  swanctl(args: string[]): Promise<string>;
  loadConfig(): Promise<void>;
  initiate(child: string, timeoutS?: number): Promise<string>;
  terminateIke(name: string): Promise<void>;
  listSas(): Promise<SwanSa[]>;
  log(): string;
  /** SIGTERM (SIGKILL after 5 s) to the charon we started; waits for it to exit. */
  stop(): Promise<void>;
  /** SIGKILL: the peer vanishes without a word (for DPD tests). */
  kill(): Promise<void>;
}

const PLUGINS = 'random nonce openssl pem pkcs1 pkcs8 x509 pubkey hmac gcm aes sha1 sha2 kdf kernel-libipsec kernel-netlink socket-default vici updown';

/** Starts charon in `ns` with swanctl.conf text `swanctlConf` (files under `dir`); `charonConf`: more lines for strongswan.conf's charon section. */
export async function startCharon(o: { ns: string; dir: string; swanctlConf: string; logLevel?: number; charonConf?: string }): Promise<Charon> {
  await mkdir(o.dir, { recursive: true });
  const vici = join(o.dir, 'charon.vici');
  const conf = join(o.dir, 'strongswan.conf');
  const logFile = join(o.dir, 'charon.log');
  const swanctlFile = join(o.dir, 'swanctl.conf');
  await writeFile(
    conf,
    `charon {
  load = ${PLUGINS}
  install_virtual_ip = no
  retransmit_tries = 3
  retransmit_timeout = 1
${o.charonConf ?? ''}  filelog {
    charon {
      path = ${logFile}
      time_format = %T
      default = ${o.logLevel ?? 1}
      ike = 2
      cfg = 2
      flush_line = yes
    }
  }
  plugins {
    vici {
      socket = unix://${vici}
    }
  }
}
swanctl {
  load = pem pkcs1 x509 revocation constraints pubkey openssl random
}
`,
  );
  await writeFile(swanctlFile, o.swanctlConf, { mode: 0o600 });
  await rm(vici, { force: true });
  const child: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', o.ns, 'sh', '-c', `mount -t tmpfs -o size=16m,mode=0755 charon-run /run && exec ${CHARON}`],
    { env: { ...process.env, STRONGSWAN_CONF: conf }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  let exited = false;
  const exitP = new Promise<void>((r) => child.on('exit', () => ((exited = true), r())));
  // swanctl wants the command first, then --uri
  const swanctl = async (args: string[]) => {
    const [cmd, ...rest] = args;
    const { stdout } = await run('ip', ['netns', 'exec', o.ns, SWANCTL, cmd, '--uri', `unix://${vici}`, ...rest], {
      timeout: 30_000,
      env: { ...process.env, STRONGSWAN_CONF: conf },
    });
    return stdout;
  };
  // wait until the VICI socket answers
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (existsSync(vici) && (await swanctl(['--stats']).then(() => true, () => false))) break;
    if (exited || Date.now() > deadline) {
      if (!exited) {
        child.kill('SIGKILL');
        await exitP;
      }
      throw new Error(`charon did not start in ${o.ns}: ${stderr.trim() || 'VICI socket does not answer'}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const c: Charon = {
    pid: child.pid!,
    ns: o.ns,
    dir: o.dir,
    vici,
    swanctl,
    async loadConfig() {
      await swanctl(['--load-all', '--noprompt', '--file', swanctlFile]);
    },
    initiate: (childName, timeoutS = 20) => swanctl(['--initiate', '--child', childName, '--timeout', String(timeoutS)]),
    async terminateIke(name) {
      await swanctl(['--terminate', '--ike', name, '--timeout', '10']);
    },
    async listSas() {
      const out = await swanctl(['--list-sas', '--raw']);
      const sas: SwanSa[] = [];
      for (const msg of parseRaw(out)) for (const [name, r] of Object.entries(msg)) if (typeof r === 'object' && !Array.isArray(r)) sas.push(toSa(name, r as Raw));
      return sas;
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    async kill() {
      if (exited) return;
      child.kill('SIGKILL');
      await exitP;
    },
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitP;
      clearTimeout(t);
    },
  };
  return c;
}
