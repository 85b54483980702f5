// Every command's --help ends with examples that a user can copy: each uses
// only the command's own options, and every command a user starts has some.
import { strict as assert } from 'node:assert';
import type { Command } from 'commander';
import { registrars } from '../../src/cli/commands/index.js';
import { buildProgram, commandPath, EXAMPLES } from '../../src/cli/program.js';

const all = (cmd: Command): Command[] => cmd.commands.flatMap((c) => [c, ...all(c)]);

describe('cli: --help examples', () => {
  const program = buildProgram(registrars);
  const byPath = new Map(all(program).map((c) => [commandPath(c), c]));

  it('are given for every command a user starts (not the daemon, nor the bare lab)', () => {
    const missing = [...byPath.keys()].filter((p) => !EXAMPLES[p] && p !== 'daemon' && p !== 'lab');
    assert.deepEqual(missing, []);
  });

  for (const [path, lines] of Object.entries(EXAMPLES)) {
    it(`${path}: its examples use only its options`, () => {
      const cmd = byPath.get(path);
      assert.ok(cmd, `no command ${path}`);
      const flags = new Set(cmd.options.flatMap((o) => [o.short, o.long]).filter(Boolean));
      for (const line of lines) {
        const command = line.split(/\s+#\s/)[0].split('&&')[0].replace(/"[^"]*"/g, 'WORDS').trim();
        assert.ok(command.startsWith(`myikev2 ${path} `) || command === `myikev2 ${path}`, line);
        for (const word of command.split(/\s+/).filter((w) => w.startsWith('-'))) assert.ok(flags.has(word), `${path}: ${word} is not an option (${line})`);
      }
    });
  }

  it('are printed by --help', () => {
    let out = '';
    const run = byPath.get('lab up')!;
    run.configureOutput({ writeOut: (s) => (out += s) });
    run.outputHelp();
    assert.match(out, /\nExamples:\n {2}myikev2 lab up --servers 3/);
  });
});
