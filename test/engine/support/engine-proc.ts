// Runs `myikev2 exec` as a real process inside a namespace and talks to it
// through its API socket (the same client `myikev2 cli` uses).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI } from '../../support/paths.js';
import { EngineClient } from '../../../src/engine/cli/client.js';
import type { EngineSummary } from '../../../src/engine/program/summary.js';

export interface EngineProc {
  api: EngineClient;
  proc: ChildProcess;
  runDir: string;
  logFile: string;
  /** Resolves with the exit code and the JSON summary printed at the end. */
  exited: Promise<{ code: number | null; summary?: EngineSummary; stdout: string }>;
  kill(): Promise<void>;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function startEngine(o: { ns: string; dir: string; name: string; yaml: string }): Promise<EngineProc> {
  await mkdir(o.dir, { recursive: true });
  const file = join(o.dir, `${o.name}.yaml`);
  const runDir = join(o.dir, `${o.name}.run`);
  const logFile = join(o.dir, `${o.name}.log`);
  await writeFile(file, o.yaml, { mode: 0o600 });
  const proc = spawn('ip', ['netns', 'exec', o.ns, process.execPath, CLI, 'exec', '-f', file, '--run-dir', runDir, '--no-tcp', '-j'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile);
  proc.stderr!.pipe(log);
  let stdout = '';
  proc.stdout!.on('data', (d) => (stdout += d));
  const exited = new Promise<{ code: number | null; summary?: EngineSummary; stdout: string }>((resolve) =>
    proc.on('exit', (code) => {
      let summary: EngineSummary | undefined;
      try {
        summary = JSON.parse(stdout.trim().split('\n').pop() ?? '');
      } catch {
        summary = undefined;
      }
      resolve({ code, summary, stdout });
    }),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  const api = await waitFor(`the API of ${o.name}`, async () => {
    if (gone) throw new Error(`engine ${o.name} exited: ${stdout} (log ${logFile})`);
    return EngineClient.connect({ socket: join(runDir, 'api.sock') }, 2000);
  }, 15_000, 100);
  return {
    api,
    proc,
    runDir,
    logFile,
    exited,
    async kill() {
      api.close();
      if (!gone) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
}

export interface Suite {
  name: string;
  ours: { encr: string; integ: string; prf: string; dh: number };
  swan: { ike: string; esp: string };
  swanNames: { encr: string; keysize: string; dh: string; integ?: string };
}

export const SUITES: Suite[] = [
  {
    name: 'aes-cbc:128/sha256/group 14',
    ours: { encr: 'aes-cbc:128', integ: 'sha256', prf: 'sha256', dh: 14 },
    swan: { ike: 'aes128-sha256-modp2048', esp: 'aes128-sha256' },
    swanNames: { encr: 'AES_CBC', keysize: '128', dh: 'MODP_2048', integ: 'HMAC_SHA2_256_128' },
  },
  {
    name: 'aes-cbc:256/sha384/group 20',
    ours: { encr: 'aes-cbc:256', integ: 'sha384', prf: 'sha384', dh: 20 },
    swan: { ike: 'aes256-sha384-ecp384', esp: 'aes256-sha384' },
    swanNames: { encr: 'AES_CBC', keysize: '256', dh: 'ECP_384', integ: 'HMAC_SHA2_384_192' },
  },
  {
    name: 'aes-gcm16:128/prf sha256/group 31',
    ours: { encr: 'aes-gcm16:128', integ: 'sha256', prf: 'sha256', dh: 31 },
    swan: { ike: 'aes128gcm16-prfsha256-curve25519', esp: 'aes128gcm16' },
    swanNames: { encr: 'AES_GCM_16', keysize: '128', dh: 'CURVE_25519' },
  },
];

export const PSK = 'interop-psk-7f3a';

function ikeconf(s: Suite, extra: string, child: string): string {
  return `ikeconf:
  psk: ${PSK}
  dhgrpid: [${s.ours.dh}]
  ikeencyptalg: [${s.ours.encr}]
  ikeintegrityalg: [${s.ours.integ}]
  ikeprfalg: [${s.ours.prf}]
  retraninterval: 1s
  maxretran: 3
${extra}  childlist:
  - encalg: [${s.ours.encr}]
    integrityalg: [${s.ours.integ}]
${child}`;
}

/** Setup of our client: tunnel n from 172.31.1.n, inner 10.10.0.n, to the gateway 172.31.0.1. */
export function clientYaml(o: { ifname: string; suite: Suite; tunnels?: number; extraIke?: string; extraChild?: string; ping?: boolean; extraTop?: string }): string {
  return `role: client
desc: interop client
numberoftunnels: ${o.tunnels ?? 1}
startclntaddr: 172.31.1.1/16
peeraddr: 172.31.0.1
bindifname: ${o.ifname}
setupinterval: 1ms
tunnelretryinterval: 2s
loglevel: ${process.env.MYIKEV2_TEST_LOGLEVEL ?? 3}
owntsaddrincrease: 1
peertsaddrincrease: 0
${o.extraTop ?? ''}${ikeconf(o.suite, o.extraIke ?? '', `    ownts:
    - {type: v4, startaddr: 10.10.0.1, endaddr: 10.10.0.1}
    peerts:
    - {type: v4, startaddr: 10.20.0.0, endaddr: 10.20.255.255}
${o.extraChild ?? ''}`)}
${o.ping === false ? '' : `pingconf:
  destaddr: 10.20.0.1
  deststep: 0
  interval: 300ms
  holdtime: 200ms
`}`;
}

/** Setup of our gateway on 172.31.0.1: inner 10.20.0.0/16 behind it, clients from 10.10.0.0/16. */
export function gatewayYaml(o: { ifname: string; suite: Suite; tunnels?: number; extraIke?: string; extraChild?: string }): string {
  return `role: gateway
desc: interop gateway
numberoftunnels: ${o.tunnels ?? 1}
bindifname: ${o.ifname}
bindifaddr: 172.31.0.1/16
loglevel: 3
${ikeconf(o.suite, o.extraIke ?? '', `    ownts:
    - {type: v4, startaddr: 10.20.0.0, endaddr: 10.20.255.255}
    peerts:
    - {type: v4, startaddr: 10.10.0.0, endaddr: 10.10.255.255}
${o.extraChild ?? ''}`)}`;
}

/** strongSwan as the gateway on 172.31.0.1 (answers any client). */
export function swanGatewayConf(s: Suite, extra = '', childExtra = ''): string {
  return `connections {
  gw {
    version = 2
    local_addrs = 172.31.0.1
    encap = yes
    proposals = ${s.swan.ike}
${extra}    local {
      auth = psk
      id = 172.31.0.1
    }
    remote {
      auth = psk
    }
    children {
      net {
        local_ts = 10.20.0.0/16
        remote_ts = 10.10.0.0/16
        esp_proposals = ${s.swan.esp}
${childExtra}      }
    }
  }
}
secrets {
  ike-any {
    secret = "${PSK}"
  }
}
`;
}

/** strongSwan as a client on 172.31.0.2 (inner 10.10.0.1) to the gateway 172.31.0.1. */
export function swanClientConf(s: Suite): string {
  return `connections {
  cl {
    version = 2
    local_addrs = 172.31.0.2
    remote_addrs = 172.31.0.1
    encap = yes
    proposals = ${s.swan.ike}
    local {
      auth = psk
      id = 172.31.0.2
    }
    remote {
      auth = psk
    }
    children {
      net {
        local_ts = 10.10.0.1/32
        remote_ts = 10.20.0.0/16
        esp_proposals = ${s.swan.esp}
      }
    }
  }
}
secrets {
  ike-any {
    secret = "${PSK}"
  }
}
`;
}
