// `myikev2 shell`: the controller's interactive CLI. On a terminal: a prompt
// with completion and history, Ctrl-C cancelling the running command, events
// printed above the line being typed. Otherwise (stdin or --exec): commands
// one after the other, events on stderr, and an exit code saying whether
// everything worked.
import { appendFileSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import * as readline from 'node:readline';
import { Chalk } from 'chalk';
import { asMyikeError, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, MyikeError } from '../errors.js';
import { placeInConfig } from '../model/config.js';
import { loadConfig } from '../model/load.js';
import { controllerStateDir } from '../run/store.js';
import type { Terminal } from '../transport/transport.js';
import { RUNNERS, UNINTERRUPTIBLE, type ShellIO } from './commands.js';
import { complete, type ListDir } from './complete.js';
import { instanceNames, NO_COLOUR, stillUpNote, type Palette } from './format.js';
import { ShellSession } from './session.js';
import { parseCommand } from './spec.js';
import { splitCommands, splitLine } from './words.js';

export interface ShellOptions {
  configFile?: string;
  /** Commands to run instead of reading them (`a; b`). */
  exec?: string;
  /** Stop at the first command that fails. */
  errexit?: boolean;
  historyFile?: string;
}

const HISTORY_SIZE = 1000;

export function historyPath(): string {
  return process.env.MYIKEV2_SHELL_HISTORY || join(controllerStateDir(), 'shell_history');
}

/** Colour only on a terminal, and never with NO_COLOR (https://no-color.org) or TERM=dumb. */
export function palette(stream: NodeJS.WriteStream, env = process.env): Palette {
  if (!stream.isTTY || env.NO_COLOR !== undefined || env.TERM === 'dumb') return NO_COLOUR;
  const c = new Chalk({ level: 1 });
  return { ok: c.green, bad: c.red, warn: c.yellow, dim: c.dim, bold: c.bold };
}

export const listDir: ListDir = (dir) => {
  const path = dir === '~' || dir.startsWith('~/') ? join(homedir(), dir.slice(1)) : dir;
  try {
    return readdirSync(path, { withFileTypes: true }).map((e) => (e.isDirectory() || (e.isSymbolicLink() && isDir(join(path, e.name))) ? `${e.name}/` : e.name));
  } catch {
    return [];
  }
};

function isDir(p: string): boolean {
  try {
    return readdirSync(p) !== undefined;
  } catch {
    return false;
  }
}

/**
 * The newest HISTORY_SIZE lines, newest first. The file only grows by
 * appends (several shells may run at once), so it is cut back to those
 * lines here once it holds twice as many.
 */
export function loadHistory(file: string): string[] {
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
  if (lines.length > 2 * HISTORY_SIZE) {
    try {
      writeFileSync(file + '.tmp', lines.slice(-HISTORY_SIZE).join('\n') + '\n', { mode: 0o600 });
      renameSync(file + '.tmp', file);
    } catch {
      // a read-only home keeps its long file
    }
  }
  return lines.reverse().slice(0, HISTORY_SIZE);
}

function saveHistory(file: string, line: string): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    appendFileSync(file, line + '\n', { mode: 0o600 });
  } catch {
    // History is a comfort; a read-only home must not break the shell.
  }
}

export async function runShell(o: ShellOptions): Promise<number> {
  const { config, warnings } = loadConfig(o.configFile);
  for (const w of warnings) process.stderr.write(w + '\n');
  const interactive = o.exec === undefined && !!process.stdin.isTTY && !!process.stdout.isTTY;
  const shell = new Shell(interactive, palette(process.stdout));
  shell.session = await ShellSession.open(config, o.configFile, (line, level) => shell.event(line, level));
  try {
    if (interactive) return await shell.interactive(o.historyFile ?? historyPath());
    return await shell.script(o.exec, !!o.errexit);
  } finally {
    await shell.session.close();
  }
}

class Shell {
  session!: ShellSession;
  private rl?: readline.Interface;
  private busy = false;
  private held = 0;
  private heldLines: string[] = [];
  private current: { name: string; abort: AbortController; why?: string } | null = null;
  /** A command of the line being run was cancelled: the rest of the line (and of a script) does not run. */
  private interrupted = false;
  private exitCode: number | null = null;

  private readonly isInteractive: boolean;
  private readonly p: Palette;
  private readonly io: ShellIO;

  constructor(isInteractive: boolean, p: Palette) {
    this.isInteractive = isInteractive;
    this.p = p;
    const terminal: Terminal | null = isInteractive ? { input: process.stdin, output: process.stdout } : null;
    this.io = this.makeIO(terminal);
  }

  private makeIO(terminal: Terminal | null): ShellIO {
    return {
    print: (t) => process.stdout.write(t + '\n'),
    write: (c) => process.stdout.write(c),
    error: (t) => process.stderr.write(t + '\n'),
    palette: this.p,
    terminal,
    confirm: (q, yes) => this.confirm(q, yes),
    holdEvents: () => {
      this.held++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        if (--this.held === 0) {
          const lines = this.heldLines;
          this.heldLines = [];
          for (const l of lines) this.show(l);
        }
      };
    },
    };
  }

  /** An event line from the daemons: held, printed above the prompt, or printed as it comes. */
  event(line: string, level: 'info' | 'warn'): void {
    const text = `${this.p.dim(new Date().toTimeString().slice(0, 8))} ${level === 'warn' ? this.p.warn(line) : line}`;
    if (this.held > 0) this.heldLines.push(text);
    else this.show(text);
  }

  private show(text: string): void {
    const rl = this.rl;
    if (!this.isInteractive || !rl) {
      (this.isInteractive ? process.stdout : process.stderr).write(text + '\n');
      return;
    }
    // Above the line being typed: wipe prompt and line, print, draw them again (cursor kept).
    const pos = rl.getCursorPos();
    readline.cursorTo(process.stdout, 0);
    if (pos.rows) readline.moveCursor(process.stdout, 0, -pos.rows);
    readline.clearScreenDown(process.stdout);
    process.stdout.write(text + '\n');
    rl.prompt(true);
  }

  private async confirm(question: string, yes: boolean): Promise<boolean> {
    if (yes) return true;
    if (!this.io.terminal)
      throw new MyikeError('E_CONFIRM', `${question.replace(/\?$/, '')}: needs confirmation, and there is no terminal to ask on`, { hint: 'add -y to the command', exitCode: EXIT_USAGE });
    const release = this.io.holdEvents();
    try {
      const { default: inquirer } = await import('inquirer');
      const a = await inquirer.prompt<{ ok: boolean }>([{ type: 'confirm', name: 'ok', message: question, default: false }]);
      return a.ok;
    } catch {
      return false; // Ctrl-C at the question: no
    } finally {
      release();
    }
  }

  /** Runs one command line (`a; b` allowed); returns the exit code of the first command that failed (0: none). */
  private async execute(line: string, errexit: boolean): Promise<number> {
    let first = EXIT_OK;
    this.interrupted = false;
    for (const cmd of splitCommands(line)) {
      const code = await this.runOne(cmd);
      if (this.exitCode !== null) return code;
      if (this.interrupted) return code === EXIT_OK ? EXIT_INTERRUPTED : code; // as a shell drops the rest of a line on Ctrl-C
      if (code !== EXIT_OK && first === EXIT_OK) first = code;
      if (errexit && code !== EXIT_OK) break;
    }
    return first;
  }

  private async runOne(text: string): Promise<number> {
    const split = splitLine(text);
    try {
      if (split.unterminated) throw new MyikeError('E_USAGE', `unclosed ${split.unterminated} quote`, { hint: 'close the quote', exitCode: EXIT_USAGE });
      const parsed = parseCommand(split.words.map((w) => w.text));
      if (parsed.spec.name === 'exit') {
        this.exitCode = parsed.args.length ? Number(parsed.args[0]) & 255 : EXIT_OK;
        return this.exitCode;
      }
      const abort = new AbortController();
      const current: { name: string; abort: AbortController; why?: string } = { name: parsed.spec.name, abort };
      this.current = current;
      try {
        return await RUNNERS[parsed.spec.name]({ session: this.session, io: this.io, signal: abort.signal, uninterruptible: (why) => (current.why = why) }, parsed);
      } finally {
        this.current = null;
      }
    } catch (err) {
      // An SSH error of a server points at the config line to fix, as on the command line.
      const e = placeInConfig(asMyikeError(err), this.session?.configFile);
      process.stderr.write(this.p.bad(e.describe()) + '\n');
      if (e.code === 'E_INTERNAL' && process.env.MYIKEV2_DEBUG) console.error(err);
      return e.exitCode;
    }
  }

  /** Ctrl-C while a command runs: cancel it, or say why it cannot be. */
  private interrupt(): boolean {
    const cur = this.current;
    if (!cur) return false;
    const why = cur.why ?? UNINTERRUPTIBLE[cur.name];
    this.interrupted = true; // what follows on the line (or in the script) does not run
    if (why) process.stderr.write(`\n${this.p.warn(why)}\n`);
    else {
      // A terminal has echoed the ^C already (the line editor is closed while a command runs).
      const mark = process.stderr.isTTY ? ' ' : '^C ';
      process.stderr.write(mark + this.p.dim(cur.name === 'def' ? 'cancelling: def stops after the current step and rolls back what it created' : 'cancelled') + '\n');
      cur.abort.abort();
    }
    return true;
  }

  async script(exec: string | undefined, errexit: boolean): Promise<number> {
    let first = EXIT_OK;
    const onSigint = () => {
      if (!this.interrupt()) process.exit(130);
    };
    process.on('SIGINT', onSigint);
    try {
      const run = async (line: string): Promise<boolean> => {
        const code = await this.execute(line, errexit);
        if (code !== EXIT_OK && first === EXIT_OK) first = code;
        if (this.interrupted) this.exitCode = EXIT_INTERRUPTED; // a script ends on Ctrl-C, as sh's does
        return this.exitCode === null && !(errexit && code !== EXIT_OK);
      };
      if (exec !== undefined) await run(exec);
      else {
        const rl = readline.createInterface({ input: process.stdin, terminal: false });
        for await (const line of rl) if (!(await run(line))) break;
        rl.close();
      }
    } finally {
      process.off('SIGINT', onSigint);
    }
    return this.exitCode ?? first;
  }

  interactive(historyFile: string): Promise<number> {
    let history = loadHistory(historyFile);
    const prompt = () => this.p.bold(`myikev2${this.session.current ? ` (${this.session.current.name})` : ''}> `);
    const queue: string[] = [];
    let leaving = false;
    let finish!: (code: number) => void;
    const done = new Promise<number>((r) => (finish = r));
    const end = () => {
      process.off('SIGINT', onSigint);
      this.dropReadline();
      const note = stillUpNote(this.session.runs(), this.session.configFile);
      if (note) process.stdout.write(this.p.dim(note) + '\n');
      finish(this.exitCode ?? EXIT_OK);
    };
    // readline owns the terminal only while the prompt shows: a command (an
    // interactive session, a confirmation, a progress view) gets it alone, in
    // cooked mode, so Ctrl-C is a signal (cancel) and keys typed ahead wait in
    // the terminal for the next prompt.
    const open = () => {
      const rl = readline.createInterface({
        input: process.stdin,
        output: process.stdout,
        terminal: true,
        history,
        historySize: HISTORY_SIZE,
        removeHistoryDuplicates: true,
        completer: (line: string) =>
          complete(line, { instances: instanceNames(this.session.known()), daemons: Object.keys(this.session.config.servers), runs: this.session.runs().map((m) => m.name) }, listDir),
      });
      this.rl = rl;
      rl.on('line', (line) => {
        queue.push(line);
        void drain();
      });
      rl.on('history', (h: string[]) => (history = h));
      rl.on('SIGINT', () => {
        // Idle: drop the line being typed, as a shell does: a fresh prompt reads a fresh line (emulated
        // Ctrl-E Ctrl-U keys left the line as it was with TERM=dumb, where readline ignores them, and the next Enter ran it).
        process.stdout.write('^C\n');
        this.dropReadline();
        open();
      });
      rl.on('close', () => {
        if (this.rl !== rl) return; // closed by us, for a command
        this.rl = undefined;
        leaving = true;
        process.stdout.write('\n');
        if (!this.busy) end();
      });
      rl.setPrompt(prompt());
      rl.prompt();
    };
    const drain = async () => {
      if (this.busy) return;
      this.busy = true;
      this.dropReadline();
      while (queue.length && this.exitCode === null) {
        const line = queue.shift()!;
        if (line.trim()) saveHistory(historyFile, line.trim());
        await this.execute(line, false);
      }
      this.busy = false;
      if (this.exitCode !== null || leaving) return end();
      open();
      const lines = this.heldLines;
      this.heldLines = [];
      for (const l of lines) this.show(l);
    };
    const onSigint = () => {
      this.interrupt();
    };
    process.on('SIGINT', onSigint);
    process.stdout.write(this.p.dim(`myikev2 shell: ${this.session.config.file}; help lists the commands, Tab completes, Ctrl-D leaves`) + '\n');
    const runs = this.session.runs();
    if (runs.length === 1) this.session.current = { name: runs[0].name, tag: runs[0].tag, recipeFile: runs[0].recipeFile };
    this.session.watchKnown();
    open();
    return done;
  }

  private dropReadline(): void {
    const rl = this.rl;
    this.rl = undefined;
    rl?.close();
  }
}
