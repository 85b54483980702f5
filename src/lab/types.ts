// The lab as other code sees it (tests, examples, benchmarks).
import type { LabState } from './state.js';
import { labFiles } from './render.js';

export interface LabServer {
  name: string; // srv1
  netns: string; // host-visible network namespace (`ip netns exec NETNS ...`)
  sshAddr: string; // IPv6 lab management address, sshd on port sshPort
  sshAddr4: string; // the same server over IPv4
  sshPort: number;
  dataIf: string; // first data interface inside the server (data0)
  dataAddr4: string; // its IPv4 address (no length)
  dataAddr6: string; // its IPv6 address (no length)
  dataIfs: Array<{ name: string; addr4: string; prefix4: string; addr6: string; prefix6: string; peer?: string }>;
  mgmtPrefix: string; // the server's mgmtaddrprefix (IPv6 /64), routed from the base namespace
}

export interface Lab {
  id: string;
  dir: string;
  servers: LabServer[];
  keyPath: string;
  knownHostsPath: string;
  controllerConfigPath: string;
  mgmtBridge: string;
  dataBridge?: string;
  hostAddr6: string; // the base namespace's address on the lab management network
}

export interface LabUpOptions {
  servers?: number; // default 3
  dir?: string; // default ./.myikev2-lab
  id?: string; // 1-5 of [a-z0-9]; default random
  data?: string; // 'bridge' (default) or 'srv1-srv2,srv2-srv3'
  prefix6?: string; // lab IPv6 /48, default derived from the id
  prefix4?: string; // lab IPv4 /23, default derived from the id
  sshdConfig?: string[]; // extra sshd_config lines for every server, e.g. 'AllowStreamLocalForwarding no' (they win over the lab's)
  keepOnFailure?: boolean;
  signal?: AbortSignal; // abort = stop at the next stage and remove what was made // leave a half-made lab for inspection instead of removing it
  /** Test aid: called after each stage; a throw makes `up` fail there. */
  faultHook?: (stage: 'network' | 'servers-started') => void | Promise<void>;
}

export function toLab(state: LabState): Lab {
  const f = labFiles(state.dir);
  return {
    id: state.id,
    dir: state.dir,
    keyPath: f.key,
    knownHostsPath: f.knownHosts,
    controllerConfigPath: f.controller,
    mgmtBridge: state.plan.mgmtBridge,
    dataBridge: state.plan.dataBridge,
    hostAddr6: state.plan.hostAddr6,
    servers: state.plan.servers.map((s) => ({
      name: s.name,
      netns: s.netns,
      sshAddr: s.sshAddr,
      sshAddr4: s.sshAddr4,
      sshPort: 22,
      dataIf: s.dataIfs[0]?.name ?? '',
      dataAddr4: s.dataIfs[0]?.addr4 ?? '',
      dataAddr6: s.dataIfs[0]?.addr6 ?? '',
      dataIfs: s.dataIfs.map((d) => ({ ...d })),
      mgmtPrefix: s.mgmtPrefix,
    })),
  };
}
