// Checks a server before we push and start anything there: Node ≥ 20, `ip`,
// and (over SSH) that sshd lets us reach a Unix socket (stream-local
// forwarding), with an error naming what to install or change.
import { randomBytes } from 'node:crypto';
import { MyikeError } from '../errors.js';
import { execChecked, shq, type Transport } from './transport.js';

export interface PreflightFacts {
  server: string;
  node: string; // e.g. 'v20.20.2'
  ip: string; // path of the ip binary
  uid: number;
  streamLocalForwarding: boolean | 'not needed';
}

export const MIN_NODE_MAJOR = 20;

/** Pure: the facts script's output → facts, or the list of problems. */
export function parseFacts(server: string, out: string): { facts?: Omit<PreflightFacts, 'streamLocalForwarding'>; problems: string[] } {
  const kv = Object.fromEntries(
    out
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
  );
  const problems: string[] = [];
  const major = /^v(\d+)\./.exec(kv.node ?? '')?.[1];
  if (!kv.node) problems.push(`no \`node\` on PATH for non-interactive SSH sessions: install Node.js ${MIN_NODE_MAJOR} or newer on ${server}`);
  else if (!major || Number(major) < MIN_NODE_MAJOR) problems.push(`node ${kv.node} is too old: install Node.js ${MIN_NODE_MAJOR} or newer on ${server}`);
  if (!kv.ip) problems.push(`no \`ip\` command: install iproute2 on ${server}`);
  if (problems.length) return { problems };
  return { facts: { server, node: kv.node, ip: kv.ip, uid: Number(kv.uid) }, problems };
}

const FACTS = `printf 'node=%s\\nip=%s\\nuid=%s\\n' "$(node --version 2>/dev/null)" "$(command -v ip)" "$(id -u)"`;

// Finds the config of the sshd serving us (walk up to the listener, read its
// -f), prints its effective forwarding settings and any restricting
// authorized_keys options. The listener may be PID 1 (a server in a PID
// namespace, like a lab's or a container's): it is looked at too.
const SSHD_SETTINGS = String.raw`p=$PPID; cf=/etc/ssh/sshd_config
while [ "$p" -ge 1 ] 2>/dev/null; do
  a=$(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null)
  case "$a" in *sshd*" -f "*) cf=$(printf '%s' "$a" | sed -n 's/.* -f \([^ ]*\).*/\1/p'); break;; esac
  p=$(awk '/^PPid:/{print $2}' /proc/$p/status 2>/dev/null)
done
t=$(sshd -T -f "$cf" -C "user=$(id -un),host=localhost,addr=\${SSH_CLIENT%% *}" 2>/dev/null)
printf '%s\n' "$t" | grep -Ei '^(allowstreamlocalforwarding|allowtcpforwarding|permitopen|disableforwarding) '
for f in $(printf '%s\n' "$t" | awk '/^authorizedkeysfile /{ $1=""; print }'); do
  case $f in /*) ;; *) f=$HOME/$f;; esac
  f=$(printf '%s' "$f" | sed "s|%h|$HOME|g; s|%u|$(id -un)|g")
  [ -f "$f" ] && grep -Eo '(^|,)(restrict|no-port-forwarding|permitopen="[^"]*")' "$f" | sed 's/^,//; s/^/authorized_keys /'
done; true`;

/** Pure: the sshd settings script's output → which settings block stream-local forwarding. */
export function forwardingCulprits(out: string): string[] {
  const found: string[] = [];
  for (const line of out.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const [key, ...rest] = line.split(/\s+/);
    const val = rest.join(' ');
    const k = key.toLowerCase();
    if (k === 'allowstreamlocalforwarding' && (val === 'no' || val === 'remote')) found.push(`AllowStreamLocalForwarding ${val}`);
    else if (k === 'allowtcpforwarding' && (val === 'no' || val === 'remote')) found.push(`AllowTcpForwarding ${val}`);
    else if (k === 'disableforwarding' && val === 'yes') found.push('DisableForwarding yes');
    else if (k === 'permitopen' && val !== 'any') found.push(`PermitOpen ${val}`);
    else if (k === 'authorized_keys') found.push(`authorized_keys option ${val}`);
  }
  return [...new Set(found)];
}

/** Open a stream to a Unix socket we create on the server; true if it worked. */
async function probeStreamLocal(t: Transport): Promise<boolean> {
  const sock = `/tmp/myikev2-preflight-${randomBytes(6).toString('hex')}.sock`;
  // A listener that answers one connection, then exits; bounded to 20 s.
  const js = `const s=require('net').createServer(c=>{c.end('ok\\n');s.close()}).listen(${JSON.stringify(sock)},()=>console.log('listening '+process.pid));setTimeout(()=>process.exit(0),20000).unref()`;
  let listening: (v: string) => void;
  const ready = new Promise<string>((r) => (listening = r));
  const listener = t.exec(`umask 077; exec node -e ${shq(js)}`, {
    onStdout: (s) => {
      const m = /listening (\d+)/.exec(s);
      if (m) listening(m[1]);
    },
    timeoutMs: 25_000,
  });
  const pid = await Promise.race([ready, listener.then(() => '')]);
  if (!pid) throw new MyikeError('E_PREFLIGHT', `cannot create a test socket ${sock}`, { server: t.server, step: 'preflight', hint: 'check that /tmp is writable and node runs' });
  try {
    const stream = await t.openUnixStream(sock);
    const got = await new Promise<string>((resolve) => {
      let buf = '';
      stream.on('data', (d: Buffer) => (buf += d.toString()));
      stream.on('close', () => resolve(buf));
      stream.on('error', () => resolve(buf));
      stream.end();
    });
    await listener;
    return got.startsWith('ok');
  } catch {
    await t.exec(`kill ${pid} 2>/dev/null; rm -f ${sock}`);
    await listener.catch(() => undefined);
    return false;
  }
}

export async function preflight(t: Transport): Promise<PreflightFacts> {
  const out = (await execChecked(t, FACTS, 'preflight')).stdout;
  const { facts, problems } = parseFacts(t.server, out);
  if (!facts) {
    throw new MyikeError('E_PREFLIGHT', `server ${t.server} is not ready: ${problems.join('; ')}`, {
      server: t.server,
      step: 'preflight',
      hint: problems.join('\n'),
    });
  }
  if (t.kind === 'local') return { ...facts, streamLocalForwarding: 'not needed' };
  if (await probeStreamLocal(t)) return { ...facts, streamLocalForwarding: true };
  const culprits = forwardingCulprits((await t.exec(SSHD_SETTINGS)).stdout);
  throw new MyikeError(
    'E_PREFLIGHT_FORWARDING',
    `sshd on ${t.server} refuses stream-local forwarding (needed to reach the daemon's Unix socket)` +
      (culprits.length ? `: ${culprits.join(', ')}` : ''),
    {
      server: t.server,
      step: 'preflight',
      hint: culprits.length
        ? `in ${t.server}'s sshd_config set AllowStreamLocalForwarding yes and AllowTcpForwarding yes (or local), remove PermitOpen/DisableForwarding for this user, and for a key with \`restrict\` add \`port-forwarding\`; then reload sshd`
        : 'check AllowStreamLocalForwarding, AllowTcpForwarding, PermitOpen, DisableForwarding in sshd_config and restrict/no-port-forwarding options in authorized_keys',
    },
  );
}
