// The controller config after validation and defaults. Keys follow the seed
// (daemonlist, sshaddr, ...); keys we added are optional in the file.

export type HostKeyPolicy = 'strict' | 'accept-new' | 'off';

export interface ServerConf {
  name: string; // key in daemonlist
  connection: 'ssh' | 'local'; // 'local' = the controller's own machine, no SSH
  daemonaddr: string; // seed key; informational (the daemon listens on a Unix socket)
  daemonport: number;
  sshaddr: string;
  sshport: number;
  sshuser: string;
  sshpass?: string; // secret: never print or log
  sshkeypath?: string; // absolute path, resolved against the config's directory
  knownhosts?: string; // OpenSSH known_hosts file (default ~/.ssh/known_hosts)
  hostkeycheck: HostKeyPolicy; // default 'strict'
  statedir?: string; // the daemon's --state-dir on the server (default /var/lib/myikev2/daemon)
  mgmtaddrprefix: string; // IPv6 prefix, e.g. '2001:db8:1::/64'
}

export interface ControllerConf {
  file: string; // absolute path, or '<embedded default>'
  servers: Record<string, ServerConf>;
  varlist: Record<string, string>; // '%NAME%' -> value
  autoassignmgmtip: boolean;
}
