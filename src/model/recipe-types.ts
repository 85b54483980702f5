import type { EngineSetup } from './setup-types.js';

export interface ServerCommands {
  server: string;
  cmds: string; // with %VAR% substituted
}

export interface MyikeInstanceConf {
  setupPath: string; // absolute path on the controller
  logdir: string; // on the server; '' = default under /var/log/myikev2
  setup: EngineSetup;
}

export interface OtherInstanceConf {
  setupcmds: string;
  upcmds: string;
  destroycmds: string;
  dataif: string; // '' = none
  dataifaddr: string; // 'ADDR/LEN' or ''
}

export interface InstanceConf {
  id: number;
  name: string;
  server: string;
  waitintervalMs: number;
  kind: 'myikev2' | 'other';
  myikev2?: MyikeInstanceConf;
  other?: OtherInstanceConf;
  dataIf: string | null; // bindifname (myikev2) or other.dataif; null = none
  mgmtAddr: string; // management address (IPv6 from the server's prefix, or apilistenaddr)
  written: string; // its recipe entry as the user wrote it (JSON, without the defaults filled in)
}

export interface Recipe {
  file: string; // absolute path
  sha256: string; // of the file's text
  name: string;
  setupcmds: ServerCommands[];
  cleancmds: ServerCommands[];
  instances: InstanceConf[]; // ordered by id
}
