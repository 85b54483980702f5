// `run --dry-run`: the plan and every script, computed without contacting
// any server (it assumes fresh servers that have the data interfaces).
import type { Inputs } from '../model/load.js';
import { planRun, type ServerFacts } from './plan.js';
import { renderNamespaceBatches, renderNamespaceScript, renderPlumbScript, renderTeardownScript, renderVerifyScript } from './render.js';

export function dryRunText(inputs: Inputs): string {
  const facts: Record<string, ServerFacts> = {};
  for (const name of Object.keys(inputs.config.servers)) facts[name] = { netns: [], links: {}, daemonInstances: [], mgmtRoutes: [] };
  for (const i of inputs.recipe.instances) if (i.dataIf) facts[i.server].links[i.dataIf] = { exists: true, addrs: [], up: false };
  const plan = planRun(inputs.recipe, inputs.config, facts, null, { override: false, now: new Date(0).toISOString() });
  const out: string[] = [`# dry run of "${plan.name}" (tag ${plan.tag}); assumes fresh servers; nothing was contacted`];
  for (const w of plan.waves) out.push(`# start${w.waitMs ? ` after ${w.waitMs} ms` : ''}: ${w.instances.map((p) => `${p.conf.name}@${p.conf.server}`).join(', ')}`);
  // A server with only cleancmds has nothing to plumb, but its cleancmds run at teardown.
  const servers = [...plan.servers.map((sp) => sp.server), ...plan.manifest.servers.filter((n) => !plan.servers.some((sp) => sp.server === n))];
  for (const server of servers) {
    const sp = plan.servers.find((p) => p.server === server) ?? { server, setupcmds: [], create: [] };
    const recs = sp.create.map((p) => p.record);
    out.push('', `######## server ${sp.server}`);
    for (const c of sp.setupcmds) out.push(`# setupcmds: ${c}`);
    const prefix = inputs.config.servers[sp.server].mgmtaddrprefix;
    if (recs.length) {
      out.push('', renderPlumbScript(plan.tag, sp.server, prefix, recs));
      out.push('', renderNamespaceScript(plan.tag, sp.server, renderNamespaceBatches(sp.create, prefix)));
    }
    // What each instance runs in its namespace (other: the recipe's commands, %VARIABLES% substituted).
    for (const { conf, record } of sp.create) {
      out.push('', `# instance ${conf.name} in ${record.netns} (wave ${(record.wave ?? 0) + 1})`);
      if (conf.other) {
        if (conf.other.setupcmds.trim()) out.push(`# setupcmds:\n${comment(conf.other.setupcmds)}`);
        out.push(`# upcmds:\n${comment(conf.other.upcmds)}`);
        if (conf.other.destroycmds.trim()) out.push(`# destroycmds (at teardown):\n${comment(conf.other.destroycmds)}`);
      } else out.push(`# myikev2 exec -f ${record.runDir}/setup.yaml (from ${conf.myikev2!.setupPath})`);
    }
    if (recs.length) out.push('', `# at teardown:`, renderTeardownScript(plan.tag, sp.server, recs, { wholeRun: true, saveLogs: true }));
    for (const c of inputs.recipe.cleancmds.filter((c) => c.server === server)) out.push(`# cleancmds (at teardown): ${c.cmds}`);
    if (recs.length) out.push('', `# verification after teardown:`, renderVerifyScript(plan.tag, sp.server, recs));
  }
  return out.join('\n') + '\n';
}

const comment = (cmds: string) => cmds.trimEnd().split('\n').map((l) => `#   ${l}`).join('\n');
