// `myikev2 cli`: one command (--exec) or an interactive prompt with
// completion and a history file, over the engine API.
import { createInterface } from 'node:readline';
import { appendFile, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { EngineApiError, EngineClient, type EngineTarget } from './client.js';
import { cliCommand, cliCommands, complete, splitWords, UsageError, type CliContext } from './commands.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from '../../errors.js';
import './commands/index.js';

export interface CliOptions {
  target: EngineTarget;
  exec?: string;
  json: boolean;
  historyFile?: string;
}

function helpText(): string {
  const cmds = cliCommands();
  const w = Math.max(...cmds.map((c) => c.usage.length), 10);
  return [...cmds.map((c) => `${c.usage.padEnd(w)}  ${c.help}`), `${'help'.padEnd(w)}  this list`, `${'quit'.padEnd(w)}  leave (also Ctrl-D)`].join('\n');
}

/** Runs one command line; returns its exit code (errors are printed, never thrown). */
export async function runLine(client: EngineClient, line: string, out: { print(t: string): void; error(t: string): void }, json: boolean, interrupted: Promise<void>): Promise<number> {
  const words = splitWords(line);
  if (!words.length) return EXIT_OK;
  if (words[0] === 'help' || words[0] === '?') {
    out.print(helpText());
    return EXIT_OK;
  }
  const cmd = cliCommand(words[0]);
  if (!cmd) {
    out.error(`unknown command "${words[0]}" (help lists them)`);
    return EXIT_USAGE;
  }
  const ctx: CliContext = { client, print: out.print, json, interrupted };
  try {
    return await cmd.run(ctx, words.slice(1));
  } catch (err) {
    if (err instanceof UsageError) {
      out.error(`${err.message}\nusage: ${cmd.usage}`);
      return EXIT_USAGE;
    }
    if (err instanceof EngineApiError) {
      out.error(`engine: ${err.code}: ${err.message}`);
      return EXIT_FAILED;
    }
    throw err;
  }
}

export async function runCli(o: CliOptions): Promise<number> {
  const client = await EngineClient.connect(o.target);
  const out = { print: (t: string) => process.stdout.write(t + '\n'), error: (t: string) => process.stderr.write(t + '\n') };
  let closed!: () => void;
  const connectionClosed = new Promise<void>((r) => (closed = r));
  client.onClose = () => closed();
  if (o.exec !== undefined) {
    const onSig = () => closed();
    process.once('SIGINT', onSig);
    try {
      return await runLine(client, o.exec, out, o.json, connectionClosed);
    } finally {
      process.off('SIGINT', onSig);
      client.close();
    }
  }
  // Commands piped in (not a terminal): no banner or prompt in the output, and
  // the exit code is that of the first failed command, as in `myikev2 shell`.
  const interactive = !!process.stdin.isTTY;
  const historyFile = o.historyFile ?? process.env.MYIKEV2_CLI_HISTORY ?? join(homedir(), '.myikev2_engine_history');
  const history = await readFile(historyFile, 'utf8').then((t) => t.split('\n').filter(Boolean).reverse().slice(0, 500), () => [] as string[]);
  const rl = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, completer: complete, history, historySize: 500, prompt: `engine ${client.hello.role}> ` });
  if (interactive) out.print(`connected to the engine (pid ${client.hello.pid}, ${client.hello.role}${client.hello.desc ? `: ${client.hello.desc}` : ''}); help lists the commands`);
  let interrupt: () => void = () => undefined;
  rl.on('SIGINT', () => {
    interrupt();
    rl.write('\n');
  });
  let leaving = false;
  let engineGone = false;
  client.onClose = () => {
    engineGone = true;
    if (!leaving) out.error('the engine closed the connection');
    rl.close();
  };
  let code = EXIT_OK;
  rl.prompt();
  let quit = false;
  for await (const line of rl) {
    const text = line.trim();
    if (text === 'quit' || text === 'exit') {
      quit = true;
      break;
    }
    if (text) {
      if (interactive) await appendFile(historyFile, text + '\n').catch(() => undefined); // piped commands are a script, not history
      const interrupted = new Promise<void>((r) => (interrupt = r));
      const c = await runLine(client, text, out, o.json, Promise.race([interrupted, connectionClosed]));
      if (code === EXIT_OK) code = c;
    }
    rl.prompt();
  }
  // Ctrl-D leaves the cursor after the prompt: end that line, as a shell does.
  if (interactive && !quit && !engineGone) process.stdout.write('\n');
  leaving = true;
  rl.close();
  client.close();
  return interactive ? EXIT_OK : code;
}
