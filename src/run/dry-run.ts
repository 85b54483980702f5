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
  for (const sp of plan.servers) {
    const recs = sp.create.map((p) => p.record);
    out.push('', `######## server ${sp.server}`);
    for (const c of sp.setupcmds) out.push(`# setupcmds: ${c}`);
    const prefix = inputs.config.servers[sp.server].mgmtaddrprefix;
    out.push('', renderPlumbScript(plan.tag, sp.server, prefix, recs));
    out.push('', renderNamespaceScript(plan.tag, sp.server, renderNamespaceBatches(sp.create, prefix)));
    out.push('', `# at teardown:`, renderTeardownScript(plan.tag, sp.server, recs, { wholeRun: true, saveLogs: true }));
    out.push('', `# verification after teardown:`, renderVerifyScript(plan.tag, sp.server, recs));
  }
  return out.join('\n') + '\n';
}
