import { InvalidArgumentError, type Command } from 'commander';
import { relative } from 'node:path';
import { EXIT_FAILED, EXIT_OK, MyikeError } from '../../errors.js';
import { action } from '../action.js';
import { DEFAULT_DIR, labDown, labStatus, labUp, type Lab } from '../../lab/index.js';

function intOption(value: string): number {
  if (!/^\d+$/.test(value)) {
    throw new InvalidArgumentError(`invalid number '${value}' (hint: give a whole number, e.g. --servers 3)`);
  }
  return Number(value);
}

/** A path as the user would type it: relative when under the current directory. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => '  ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function describeLab(lab: Lab, seconds: number): string {
  const d = shown(lab.dir);
  const rows = [['server', 'ssh address', 'data interfaces', 'mgmtaddrprefix', 'netns (on this host)']];
  for (const s of lab.servers) {
    const data = s.dataIfs.map((i) => `${i.name} ${i.addr4} ${i.addr6}${i.peer ? ` (to ${i.peer})` : ''}`).join(', ');
    rows.push([s.name, s.sshAddr, data, s.mgmtPrefix, s.netns]);
  }
  const first = lab.servers[0]!;
  return [
    `lab ${lab.id} up: ${lab.servers.length} server(s) in ${seconds.toFixed(2)} s, files in ${d}`,
    table(rows),
    '',
    `log in:      ssh -i ${d}/id_ed25519 -o UserKnownHostsFile=${d}/known_hosts root@${first.sshAddr}`,
    `controller:  myikev2 run -c ${d}/controller.yaml RECIPE.yaml`,
    `status:      myikev2 lab status --dir ${d}`,
    `tear down:   myikev2 lab down --dir ${d}`,
    '',
  ].join('\n');
}

export function registerLab(program: Command): void {
  const lab = program
    .command('lab')
    .description('a test bed of simulated servers on this machine: namespaces running real sshd (needs root)');

  lab
    .command('up')
    .description('start N simulated servers (srv1..srvN) and write id_ed25519, known_hosts and controller.yaml into DIR')
    .option('-n, --servers <N>', 'number of servers (1-99)', intOption, 3)
    .option('-d, --dir <DIR>', 'directory for the lab files and state', DEFAULT_DIR)
    .option('--data <LINKS>', "data links: 'bridge' (one shared segment, data0 on every server) or point-to-point pairs 'srv1-srv2,srv2-srv3'", 'bridge')
    .option('--id <ID>', 'lab id, 1-5 lowercase letters/digits, in every name the lab creates (default: random)')
    .option('--prefix6 <CIDR>', 'IPv6 /48 for the lab networks (default: a ULA /48 derived from the id)')
    .option('--prefix4 <CIDR>', 'IPv4 /23 for the lab networks (default: a 100.64.0.0/10 /23 derived from the id)')
    .option('--sshd-config <LINE>', "an extra sshd_config line for every server, repeatable, e.g. 'AllowStreamLocalForwarding no'", (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--keep-on-failure', 'if up fails, leave what was made for inspection (then run lab down)')
    .option('--json', 'print the lab as JSON')
    .action(
      action(async (o: { servers: number; dir: string; data: string; id?: string; prefix6?: string; prefix4?: string; sshdConfig: string[]; keepOnFailure?: boolean; json?: boolean }) => {
        const t0 = performance.now();
        // Ctrl-C stops `up` at its next stage, and `up` then removes what it made.
        const interrupt = new AbortController();
        const onSignal = () => interrupt.abort();
        process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
        const up = await labUp({ servers: o.servers, dir: o.dir, data: o.data, id: o.id, prefix6: o.prefix6, prefix4: o.prefix4, sshdConfig: o.sshdConfig, keepOnFailure: o.keepOnFailure, signal: interrupt.signal }).finally(() => {
          process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
        });
        const seconds = (performance.now() - t0) / 1000;
        process.stdout.write(o.json ? JSON.stringify(up, null, 2) + '\n' : describeLab(up, seconds));
        return EXIT_OK;
      }),
    );

  lab
    .command('down')
    .description('stop every server and all it runs, remove the lab namespaces, links and files, then check nothing is left')
    .option('-d, --dir <DIR>', 'the lab directory', DEFAULT_DIR)
    .option('--id <ID>', 'the lab id, to find a lab whose directory was lost')
    .option('--json', 'print what was removed and what is left as JSON')
    .action(
      action(async (o: { dir: string; id?: string; json?: boolean }) => {
        const r = await labDown({ dir: o.dir, id: o.id });
        if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        else if (!r.leftovers.length) process.stdout.write(`lab ${r.id} down: removed ${r.removed.length} item(s), nothing left\n`);
        if (r.leftovers.length) {
          throw new MyikeError('E_LAB_LEFTOVERS', `lab ${r.id} down left: ${r.leftovers.join('; ')}`, {
            hint: `run myikev2 lab down --dir ${shown(o.dir)} again; if it stays, remove these by hand (ip netns delete / ip link delete / kill)`,
          });
        }
        return EXIT_OK;
      }),
    );

  lab
    .command('status')
    .description('list the lab servers and whether their sshd answers (exit 1 if any does not)')
    .option('-d, --dir <DIR>', 'the lab directory', DEFAULT_DIR)
    .option('--json', 'print the status as JSON')
    .action(
      action(async (o: { dir: string; json?: boolean }) => {
        const st = await labStatus({ dir: o.dir });
        if (o.json) {
          process.stdout.write(JSON.stringify({ id: st.id, dir: st.dir, phase: st.phase, healthy: st.healthy, servers: st.servers }, null, 2) + '\n');
        } else {
          const rows = [['server', 'ssh address', 'sshd', 'answers', 'netns']];
          for (const s of st.servers) rows.push([s.name, s.sshAddr, s.running ? `pid ${s.sshdPid}` : 'not running', s.answers ? 'yes' : 'NO', s.namespace ? s.netns : `${s.netns} (missing)`]);
          process.stdout.write(`lab ${st.id} (${st.phase}) in ${shown(st.dir)}\n${table(rows)}\n`);
          // A lab server cannot be started again alone: say so, and where its sshd said why it stopped.
          const down = st.servers.filter((s) => !(s.namespace && s.running && s.answers));
          if (down.length && st.phase === 'up')
            process.stderr.write(`${down.map((s) => s.name).join(', ')} not answering (see ${down.map((s) => `${shown(st.dir)}/${s.name}/sshd.log`).join(', ')})\n  hint: a lab server is not restarted alone: myikev2 lab down --dir ${shown(st.dir)}, then lab up again\n`);
        }
        return st.healthy ? EXIT_OK : EXIT_FAILED;
      }),
    );
}
