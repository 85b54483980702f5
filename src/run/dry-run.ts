// `run --dry-run`: the plan and every script, computed without contacting
// any server (it assumes fresh servers that have the data interfaces).
import type { Inputs } from '../model/load.js';
import { commandArgv, engineArgv, inNamespace, instanceEnv } from './instances.js';
import { planRun, type PlannedInstance, type ServerFacts } from './plan.js';
import { shq } from '../transport/transport.js';
import { BUNDLE_FILE, DEFAULT_BUNDLES_DIR } from '../transport/bundle.js';
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
    out.push(...sp.create.flatMap((p) => ['', ...instanceStart(plan.tag, p)]));
    if (recs.length) {
      out.push('', `# at teardown:`);
      for (const r of recs) if (r.destroycmds.trim()) out.push(`# destroycmds of ${r.name} (first): ${inNamespace(plan.tag, r, r.destroycmds)}`);
      out.push(renderTeardownScript(plan.tag, sp.server, recs, { wholeRun: true, saveLogs: true }));
    }
    for (const c of inputs.recipe.cleancmds.filter((c) => c.server === server)) out.push(`# cleancmds (at teardown): ${c.cmds}`);
    if (recs.length) out.push('', `# verification after teardown:`, renderVerifyScript(plan.tag, sp.server, recs));
  }
  return out.join('\n') + '\n';
}

/** How the daemon starts an instance (not a script: a spawn request), as shell lines to read. */
function instanceStart(tag: string, p: PlannedInstance): string[] {
  const { conf, record: r } = p;
  const env = Object.entries(instanceEnv(tag, r)).map(([k, v]) => `${k}=${shq(v)}`).join(' ');
  const lines = [`# instance ${r.name} (wave ${(r.wave ?? 0) + 1}): started by the daemon in namespace ${r.netns}, in ${r.runDir}, logs in ${r.logdir}`];
  if (conf.kind === 'other') {
    if (conf.other!.setupcmds.trim()) lines.push(`# its setupcmds first:`, inNamespace(tag, r, conf.other!.setupcmds));
    lines.push(`env ${env} ${commandArgv(conf.other!.upcmds).map(shq).join(' ')}`);
  } else {
    lines.push(`# its setup file: ${conf.myikev2!.setupPath} (copied to ${r.runDir}/setup.yaml)`);
    lines.push(`env ${env} ${engineArgv({ bundlePath: `${DEFAULT_BUNDLES_DIR}/BUILD/${BUNDLE_FILE}` }, r, true).map(shq).join(' ')}`);
  }
  return lines;
}
