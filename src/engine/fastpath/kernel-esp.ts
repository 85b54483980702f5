// Does this kernel do ESP (and XFRM interfaces)? Asked the only reliable
// way: try to install a throwaway SA in a throwaway namespace, then remove
// the namespace. The engine runs this at start when `installfastpath: true`.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { MyikeError } from '../../errors.js';

const run = promisify(execFile);

export interface KernelEspProbe {
  esp: boolean;
  espError?: string; // what the kernel said
  xfrmInterface?: boolean; // only probed when asked
  xfrmInterfaceError?: string;
}

async function attempt(args: string[]): Promise<string | undefined> {
  try {
    await run('ip', args, { timeout: 10_000 });
    return undefined;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return (err.stderr || err.message).trim();
  }
}

/** Probes in a fresh namespace `myikev2-espchk-<pid>-<random>` that is always removed. */
export async function probeKernelEsp(opts: { xfrmInterface?: boolean } = {}): Promise<KernelEspProbe> {
  const ns = `myikev2-espchk-${process.pid}-${randomBytes(3).toString('hex')}`;
  const created = await attempt(['netns', 'add', ns]);
  if (created !== undefined)
    throw new MyikeError('E_FASTPATH_PROBE', `cannot create a network namespace to probe the kernel's ESP support: ${created}`, {
      hint: 'run the engine as root (it needs CAP_NET_ADMIN), or set installfastpath: false',
    });
  try {
    const zeros = (n: number) => '0x' + '00'.repeat(n);
    const espError = await attempt(
      ['-n', ns, 'xfrm', 'state', 'add', 'src', '192.0.2.1', 'dst', '192.0.2.2', 'proto', 'esp', 'spi', '0x100', 'mode', 'tunnel']
        .concat(['enc', 'cbc(aes)', zeros(16), 'auth-trunc', 'hmac(sha256)', zeros(32), '128']),
    );
    const probe: KernelEspProbe = { esp: espError === undefined, ...(espError ? { espError } : {}) };
    if (opts.xfrmInterface) {
      const e = await attempt(['-n', ns, 'link', 'add', 'xfrmchk', 'type', 'xfrm', 'if_id', '1']);
      probe.xfrmInterface = e === undefined;
      if (e) probe.xfrmInterfaceError = e;
    }
    return probe;
  } finally {
    await attempt(['netns', 'delete', ns]);
  }
}

/** Throws the error the engine prints and exits with when the fast path cannot work here. */
export function fastPathError(probe: KernelEspProbe, wantXfrmInterface = false): MyikeError | undefined {
  if (!probe.esp)
    return new MyikeError('E_NO_KERNEL_ESP', `installfastpath: true, but this kernel cannot install ESP SAs (ip xfrm state add: ${probe.espError})`, {
      hint: 'set ikeconf.installfastpath: false to use the engine\'s user-space ESP path, or use a kernel with ESP (CONFIG_INET_ESP / CONFIG_INET6_ESP, modules esp4 and esp6)',
    });
  if (wantXfrmInterface && probe.xfrmInterface === false)
    return new MyikeError('E_NO_XFRM_INTERFACE', `the fast path asks for XFRM interfaces, but this kernel has none (ip link add type xfrm: ${probe.xfrmInterfaceError})`, {
      hint: 'use a kernel with CONFIG_XFRM_INTERFACE (module xfrm_interface), or do without the XFRM interface option',
    });
  return undefined;
}

/** For `myikev2 exec` at start: probe and throw when the fast path is configured but impossible. */
export async function assertFastPathUsable(opts: { xfrmInterface?: boolean } = {}): Promise<KernelEspProbe> {
  const probe = await probeKernelEsp(opts);
  const err = fastPathError(probe, opts.xfrmInterface);
  if (err) throw err;
  return probe;
}
