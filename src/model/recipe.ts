// Loads a recipe against a controller config: schema, then the cross-file
// checks (servers exist, names and ids unique, setup files valid, data
// interfaces and management addresses not shared), then the Recipe model.
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { isValidIfName, mgmtAddressesIn, parseAddress, parseCidr } from './address.js';
import type { ControllerConf } from './config-types.js';
import { DURATION_EXPECTED, MAX_DURATION_EXPECTED, MAX_DURATION_MS, parseDuration } from './duration.js';
import type { InstanceConf, Recipe, ServerCommands } from './recipe-types.js';
import { closest, semanticPass, validateAgainstSchema } from './schema.js';
import { readSetup } from './setup.js';
import type { EngineSetup } from './setup-types.js';
import { Diagnostics, displayPath, readYaml, statPath, textSha256, type KeyPath, type SourceDoc } from './source.js';
import { substituteVars } from './vars.js';

/** Instance names become parts of names and paths: keep them boring. */
export const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** config null: the config itself was invalid; check the recipe on its own. */
export function readRecipe(file: string, config: ControllerConf | null, diag: Diagnostics): Recipe | null {
  const src = readYaml(file, diag);
  if (!src.ok) return null;
  // Each instance entry as written, before validation fills in the defaults (a build may add some).
  const list = (src.data as Raw | null)?.instancelist;
  const written = new Map(list && typeof list === 'object' ? Object.entries(list).map(([id, e]) => [id, JSON.stringify(e)]) : []);
  const schema = validateAgainstSchema('recipe', src, diag);
  if (!schema) return null;
  return semanticPass(schema, diag, (d) => toRecipe(file, src, config, d, written));
}

/**
 * Only the recipe's name, which is all `teardown RECIPE` needs: the run is
 * found by it, so a recipe edited (even broken) since the run still tears it down.
 */
export function readRecipeName(file: string, diag: Diagnostics): string | null {
  const own = new Diagnostics();
  const src = readYaml(file, own);
  // Even a YAML error elsewhere in the file leaves a readable top-level name.
  const name = src.ok ? (src.data as Raw | null)?.name : src.doc?.get('name');
  if (typeof name === 'string' && name.length >= 1 && name.length <= 64) return name;
  for (const [i, e] of own.errors.entries()) diag.adopt(e.withHint(`${e.hint ? `${e.hint}; ` : ''}or give the run's name: myikev2 teardown --name NAME`), own.paths[i]);
  if (src.ok) diag.error(src, ['name'], { message: 'the recipe has no usable name', expected: 'a string of 1 to 64 characters', hint: 'or give the run\'s name: myikev2 teardown --name NAME' });
  return null;
}

function toRecipe(file: string, src: SourceDoc, config: ControllerConf | null, diag: Diagnostics, written: Map<string, string>): Recipe | null {
  const before = diag.errors.length;
  const raw = src.data as Raw;
  const dir = dirname(resolvePath(file));
  const ctx = new RecipeContext(src, config, diag);

  // The name goes into messages, file names and `teardown --name` arguments.
  if (typeof raw.name === 'string' && /[\x00-\x1f\x7f]/.test(raw.name))
    diag.error(src, ['name'], { message: 'has a control character (a newline, tab or NUL)', expected: 'a name on one line, without tabs' });
  const setupcmds = ctx.serverCommands('setupcmds', raw.setupcmds ?? []);
  const cleancmds = ctx.serverCommands('cleancmds', raw.cleancmds ?? []);
  const instances: InstanceConf[] = [];
  // A setup file that many instances share is read and checked once (and its errors told once).
  const setups = new Map<string, EngineSetup | null>();
  const names = new Map<string, number>();
  for (const [idText, inst] of Object.entries(raw.instancelist as Record<string, Raw>)) {
    const id = Number(idText);
    const at: KeyPath = ['instancelist', idText];
    if (!INSTANCE_NAME.test(inst.name))
      diag.error(src, [...at, 'name'], { message: `"${inst.name}" cannot be used as an instance name`, expected: 'letters, digits, "_", "-", "." (at most 63, starting with a letter or digit)' });
    else if (names.has(inst.name))
      diag.error(src, [...at, 'name'], { message: `"${inst.name}" is already the name of instance ${names.get(inst.name)}`, hint: 'instance names must be unique in a recipe' });
    else names.set(inst.name, id);
    ctx.server([...at, 'daemonname'], inst.daemonname);
    const wait = parseDuration(inst.waitinterval);
    if (wait === null) diag.error(src, [...at, 'waitinterval'], { message: `"${inst.waitinterval}" is not a duration`, expected: DURATION_EXPECTED });
    else if (wait > MAX_DURATION_MS) diag.error(src, [...at, 'waitinterval'], { message: `"${inst.waitinterval}" is too long`, expected: MAX_DURATION_EXPECTED });
    const hasMy = inst.myikev2 != null;
    const hasOther = inst.other != null;
    if (hasMy === hasOther) {
      diag.error(src, at, {
        message: hasMy ? 'has both "myikev2" and "other"' : 'has neither "myikev2" nor "other"',
        expected: 'exactly one of them',
        hint: 'use myikev2 for an engine instance, other for any other program',
      });
      continue;
    }
    const base = { id, name: inst.name, server: inst.daemonname, waitintervalMs: wait ?? 0, written: written.get(idText) ?? '' };
    if (hasMy) {
      const m = inst.myikev2 as Raw;
      if (m.setuppath !== undefined && m.setupath !== undefined && m.setuppath !== m.setupath) {
        diag.error(src, [...at, 'myikev2', 'setupath'], { message: 'both "setuppath" and "setupath" are given, with different values', hint: 'keep one (setupath is the seed\'s spelling of setuppath)' });
        continue;
      }
      const key = m.setuppath !== undefined ? 'setuppath' : 'setupath';
      const rel = m.setuppath ?? m.setupath;
      if (rel === undefined || rel === '') {
        diag.error(src, [...at, 'myikev2', 'setuppath'], { at: 'parent', message: 'missing required key "setuppath"', hint: 'the path of the engine setup file, relative to the recipe' });
        continue;
      }
      const setupPath = resolvePath(dir, ctx.vars([...at, 'myikev2', key], rel));
      const logdir = ctx.vars([...at, 'myikev2', 'logdir'], m.logdir);
      if (logdir !== '' && (!isAbsolute(logdir) || !SAFE_PATH.test(logdir)))
        diag.error(src, [...at, 'myikev2', 'logdir'], { message: `"${logdir}" is not usable as a log directory`, expected: `an absolute path of letters, digits and "/._-"`, hint: 'or leave it empty for /var/log/myikev2/<run>/<instance>' });
      const seen = setups.has(setupPath);
      // Said where the path is written: the file itself has no line to point at.
      const unusable = seen ? undefined : setupFileProblem(setupPath);
      if (unusable) {
        diag.error(src, [...at, 'myikev2', key], { message: `the setup file ${displayPath(setupPath)} ${unusable}`, hint: `the path is relative to the recipe's directory (${displayPath(dir) || '.'})` });
        continue;
      }
      const errorsBefore = diag.errors.length;
      const setup = seen ? setups.get(setupPath)! : readSetup(displayPath(setupPath), diag);
      setups.set(setupPath, setup);
      if (!setup) {
        if (!seen && diag.errors.length === errorsBefore) diag.error(src, [...at, 'myikev2', key], { message: 'the setup file is not valid' });
        continue;
      }
      instances.push({ ...base, kind: 'myikev2', myikev2: { setupPath, logdir, setup }, dataIf: setup.bindifname, mgmtAddr: '' });
    } else {
      const o = inst.other as Raw;
      const other = {
        setupcmds: ctx.vars([...at, 'other', 'setupcmds'], o.setupcmds),
        upcmds: ctx.vars([...at, 'other', 'upcmds'], o.upcmds),
        destroycmds: ctx.vars([...at, 'other', 'destroycmds'], o.destroycmds),
        dataif: o.dataif,
        dataifaddr: o.dataifaddr,
      };
      if (other.upcmds.trim() === '')
        diag.error(src, [...at, 'other', 'upcmds'], { at: 'parent', message: 'missing required key "upcmds"', hint: 'the commands that start the program, e.g. `exec charon`' });
      if (o.dataif !== '' && !isValidIfName(o.dataif))
        diag.error(src, [...at, 'other', 'dataif'], { message: `"${o.dataif}" is not a valid interface name`, expected: 'a Linux interface name of 1–15 bytes from letters, digits, "_", "-", ".", "@"' });
      if (o.dataifaddr !== '') {
        if (!parseCidr(o.dataifaddr))
          diag.error(src, [...at, 'other', 'dataifaddr'], { message: `"${o.dataifaddr}" is not an address with a prefix length`, expected: 'ADDRESS/LENGTH, e.g. 172.16.100.1/24' });
        else if (o.dataif === '')
          diag.error(src, [...at, 'other', 'dataifaddr'], { message: 'is set but dataif is empty', hint: 'name the interface the address goes on in dataif' });
      }
      instances.push({ ...base, kind: 'other', other, dataIf: o.dataif === '' ? null : o.dataif, mgmtAddr: '' });
    }
  }
  instances.sort((a, b) => a.id - b.id);
  ctx.checkDataInterfaces(instances);
  ctx.assignMgmtAddresses(instances);
  if (diag.errors.length > before) return null;
  return { file: resolvePath(file), sha256: textSha256(src.text), name: raw.name, setupcmds, cleancmds, instances };
}

const SAFE_PATH = /^[A-Za-z0-9/._-]+$/;

class RecipeContext {
  constructor(
    readonly src: SourceDoc,
    readonly config: ControllerConf | null,
    readonly diag: Diagnostics,
  ) {}

  server(path: KeyPath, name: string): boolean {
    if (!this.config || Object.hasOwn(this.config.servers, name)) return true;
    const known = Object.keys(this.config.servers);
    this.diag.error(this.src, path, {
      message: `"${name}" is not a server of the controller config (${this.config.file})`,
      expected: `one of: ${known.join(', ')}`,
      hint: this.config.file.startsWith('<')
        ? 'without -c CONFIG the only server is "local"; pass -c with your controller config'
        : `${closest(name, known) ? `did you mean "${closest(name, known)}"? Else ` : ''}add "${name}" to daemonlist, or use one of the servers above`,
    });
    return false;
  }

  vars(path: KeyPath, text: string): string {
    if (!this.config) return text;
    const { text: out, undefinedNames } = substituteVars(text, this.config.varlist);
    for (const name of undefinedNames) {
      const near = closest(name, Object.keys(this.config.varlist));
      const add = `add '%${name}%: VALUE' to varlist in the controller config, or write %% for a literal percent sign`;
      this.diag.error(this.src, path, { message: `variable %${name}% is not defined in varlist`, hint: near ? `did you mean %${near}%? Else ${add}` : add });
    }
    return out;
  }

  serverCommands(key: string, list: Raw[]): ServerCommands[] {
    return list.map((c, i) => {
      this.server([key, i, 'daemonname'], c.daemonname);
      return { server: c.daemonname, cmds: this.vars([key, i, 'cmds'], c.cmds) };
    });
  }

  /** One data interface cannot be moved into two namespaces on one server. */
  checkDataInterfaces(instances: InstanceConf[]): void {
    const owner = new Map<string, InstanceConf>();
    for (const inst of instances) {
      if (!inst.dataIf) continue;
      const key = `${inst.server}\0${inst.dataIf}`;
      const first = owner.get(key);
      if (!first) {
        owner.set(key, inst);
        continue;
      }
      if (inst.kind === 'myikev2')
        this.diag.error(this.src, ['instancelist', String(inst.id), 'myikev2'], {
          message: `its setup file's bindifname "${inst.dataIf}" is already the data interface of instance ${first.id} (${first.name}) on server ${inst.server}`,
          hint: 'give each instance on a server its own data interface',
        });
      else
        this.diag.error(this.src, ['instancelist', String(inst.id), 'other', 'dataif'], {
          message: `"${inst.dataIf}" is already the data interface of instance ${first.id} (${first.name}) on server ${inst.server}`,
          hint: 'give each instance on a server its own data interface',
        });
    }
  }

  assignMgmtAddresses(instances: InstanceConf[]): void {
    if (!this.config) return;
    const used = new Map<string, InstanceConf>();
    const addressesOn = new Map<string, (id: number) => string | null>();
    for (const inst of instances) {
      const at: KeyPath = ['instancelist', String(inst.id)];
      // Not servers[name] alone: "toString" would find the object's prototype (the unknown server is told already).
      if (!Object.hasOwn(this.config.servers, inst.server)) continue;
      const server = this.config.servers[inst.server];
      if (this.config.autoassignmgmtip) {
        let addressFor = addressesOn.get(inst.server);
        if (!addressFor) addressesOn.set(inst.server, (addressFor = mgmtAddressesIn(parseCidr(server.mgmtaddrprefix)!)));
        const addr = addressFor(inst.id);
        if (!addr) {
          this.diag.error(this.src, at, {
            message: `server ${inst.server}'s mgmtaddrprefix ${server.mgmtaddrprefix} has no room for instance id ${inst.id}`,
            hint: 'use a larger prefix (a /64 fits every id) or smaller instance ids',
            at: 'key',
          });
          continue;
        }
        inst.mgmtAddr = addr;
      } else if (inst.kind === 'myikev2') {
        const setup = inst.myikev2!.setup;
        const a = parseAddress(setup.apilistenaddr);
        if (!a || a.addr === '0.0.0.0' || a.addr === '::') {
          this.diag.error(this.src, [...at, 'myikev2'], {
            message: `the setup file ${setup.file} has no apilistenaddr, and autoassignmgmtip is false`,
            expected: 'apilistenaddr set to the instance\'s management address',
            hint: 'set apilistenaddr in the setup file, or autoassignmgmtip: true in the controller config',
          });
          continue;
        }
        if (a.family !== 6) {
          // The management network is IPv6: a bridge with fe80::1 as every namespace's gateway, /128 host routes.
          this.diag.error(this.src, [...at, 'myikev2'], {
            message: `the setup file ${setup.file} has apilistenaddr ${a.addr}, an IPv4 address; with autoassignmgmtip false it is the instance's management address, and the management network is IPv6`,
            expected: 'an IPv6 apilistenaddr',
            hint: 'set apilistenaddr to an IPv6 address (e.g. one of the server\'s mgmtaddrprefix), or autoassignmgmtip: true in the controller config',
          });
          continue;
        }
        inst.mgmtAddr = a.addr;
      }
      if (!inst.mgmtAddr) continue;
      const other = used.get(inst.mgmtAddr);
      if (other)
        this.diag.error(this.src, at, {
          message: `management address ${inst.mgmtAddr} is also instance ${other.id} (${other.name})'s`,
          hint: 'give each instance its own apilistenaddr',
          at: 'key',
        });
      else used.set(inst.mgmtAddr, inst);
    }
  }
}

/** Why a setup file cannot be read at all (missing, a directory, a FIFO that would block the read); undefined when it is a file. */
function setupFileProblem(file: string): string | undefined {
  const { stat, problem } = statPath(file);
  if (problem) return `cannot be used: ${problem}`;
  if (!stat) return 'does not exist';
  if (stat.isDirectory()) return 'is a directory';
  return stat.isFile() ? undefined : 'is not a regular file';
}
