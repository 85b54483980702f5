// The engine's setup file after validation and defaults (see docs/setup-file
// reference in README and ../shared/setup-file.md). Durations are in
// milliseconds; addresses are strings already checked by the loader.

export type Role = 'client' | 'gateway';

export interface TrafficSelectorConf {
  type: 'v4' | 'v6';
  protocol: number; // 0 = any
  startport: number;
  endport: number;
  startaddr: string;
  endaddr: string;
}

export interface ChildConf {
  tunnelmode: boolean;
  encalg: string[]; // e.g. 'aes-cbc:128', 'aes-gcm16:256'
  integrityalg: string[]; // 'sha1' | 'sha256' | 'sha384' | 'sha512' (ignored for AEAD)
  protocol: 'esp';
  lifetimeMs: number;
  esn: boolean;
  pfsenabled: boolean;
  pfsgrpid: number[];
  replaywindowsize: number;
  ownts: TrafficSelectorConf[];
  peerts: TrafficSelectorConf[];
}

export interface IkeConf {
  dhgrpid: number[];
  ikeencyptalg: string[];
  ikeintegrityalg: string[];
  ikeprfalg: string[];
  authownmethod: 'psk';
  authpeermethod: 'psk';
  psk: string; // secret: never log
  myid: string; // 'client-src-addr' | IP | e-mail | FQDN
  retranintervalMs: number;
  maxretran: number;
  cookiethreshold: number; // gateway: half-open IKE SAs from which a COOKIE is asked for (0: always)
  initialcontact: boolean;
  initiatedpd: boolean;
  dpdintervalMs: number;
  ikelifetimeMs: number;
  margintimeMs: number;
  jitter: boolean;
  enablenatt: boolean;
  natkeepaliveMs: number; // 0: no NAT keepalives
  tradtionalencapforceudp: boolean;
  installfastpath: boolean;
  childlist: ChildConf[];
}

export interface PingConf {
  destaddr: string; // '' disables the ping test
  deststep: number;
  srcaddr: string;
  srcstep: number;
  autoaddr: boolean;
  intervalMs: number;
  pktlen: number;
  maxlossrate: number;
  holdtimeMs: number;
}

export interface EngineSetup {
  file: string; // absolute path of the setup file
  sha256: string; // of the file's text (what the user wrote: see writtenHash)
  role: Role;
  desc: string;
  runningtimeMs: number; // 0 = until stopped
  numberoftunnels: number;
  loglevel: 1 | 2 | 3 | 4 | 5;
  startclntaddr: string; // 'ADDR/LEN' ('' for a gateway)
  peeraddr: string;
  bindifname: string;
  bindifaddr: string; // 'ADDR/LEN' or ''
  staticroute: string;
  setupintervalMs: number;
  tunnelretryintervalMs: number;
  tunnelmaxretry: number;
  owntsaddrincrease: number;
  peertsaddrincrease: number;
  apilistenaddr: string;
  apilistenport: number;
  abortonerr: boolean;
  ikeconf: IkeConf;
  pingconf: PingConf;
}
