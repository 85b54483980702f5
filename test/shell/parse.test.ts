// The shell's pure parts: splitting what was typed, parsing commands,
// completion. Tests as data where they can be.
import { strict as assert } from 'node:assert';
import { MyikeError } from '../../src/errors.js';
import { complete, files, type CompletionNames } from '../../src/shell/complete.js';
import { commandHelp, findSpec, helpText, parseCommand, SPECS } from '../../src/shell/spec.js';
import { quoteWord, splitCommands, splitLine, words } from '../../src/shell/words.js';

describe('shell: words', () => {
  const cases: [string, string[]][] = [
    ['list', ['list']],
    ['  def   -f  r.yaml  ', ['def', '-f', 'r.yaml']],
    [`def -f 'my recipe.yaml'`, ['def', '-f', 'my recipe.yaml']],
    [`cli -t a -- sh -c "echo \\"x\\" \\$HOME"`, ['cli', '-t', 'a', '--', 'sh', '-c', 'echo "x" $HOME']],
    [`def -f my\\ recipe.yaml`, ['def', '-f', 'my recipe.yaml']],
    [`a''b "c"d`, ['ab', 'cd']],
    ['', []],
  ];
  for (const [line, want] of cases) it(`splits ${JSON.stringify(line)}`, () => assert.deepEqual(words(line), want));

  it('tells an open last word and an unclosed quote', () => {
    assert.equal(splitLine('list -d').open, true);
    assert.equal(splitLine('list -d ').open, false);
    assert.equal(splitLine(`def -f 'x`).unterminated, "'");
    assert.equal(splitLine(`def -f 'x'`).unterminated, null);
    assert.deepEqual(splitLine('cli  -t x').words.map((w) => w.start), [0, 5, 8]);
  });

  it('splits a script at ; and newlines outside quotes, dropping blanks and comments', () => {
    assert.deepEqual(splitCommands(`list; stop -t a\n# comment\n\ncli -t a -- 'echo a; echo b'; logs -t "x;y"`), [
      'list',
      'stop -t a',
      `cli -t a -- 'echo a; echo b'`,
      'logs -t "x;y"',
    ]);
    assert.deepEqual(splitCommands('a\\;b'), ['a\\;b']);
    assert.deepEqual(splitCommands(' ; ;'), []);
    // A comment after a command, as in sh; `#` inside a word or quotes is no comment.
    assert.deepEqual(splitCommands('list  # every instance; not a command\nclearping -y #'), ['list', 'clearping -y']);
    assert.deepEqual(splitCommands(`cli -t a -- echo a#b '# x' "#y"`), [`cli -t a -- echo a#b '# x' "#y"`]);
  });

  it('quotes words so that they split back unchanged', () => {
    for (const w of ['plain', 'with space', "it's", 'a"b', '$HOME', 'semi;colon', '']) assert.deepEqual(words(quoteWord(w)), w === '' ? [''] : [w]);
  });
});

describe('shell: command parsing', () => {
  const ok: [string[], Record<string, string | boolean>, string[]][] = [
    [['def', '-f', 'r.yaml'], { file: 'r.yaml' }, []],
    [['def', '--file=r.yaml', '-o'], { file: 'r.yaml', override: true }, []],
    [['def', '-f', 'r.yaml', '--keep-on-failure'], { file: 'r.yaml', 'keep-on-failure': true }, []],
    [['def', '-k', '-f', 'r.yaml'], { file: 'r.yaml', 'keep-on-failure': true }, []],
    [['list'], {}, []],
    [['list', '-w'], { wide: true }, []],
    [['ls', '-d', 'srv1', '--json'], { daemon: 'srv1', json: true }, []],
    [['stop', '-t', 'a'], { target: 'a' }, []],
    [['stop', '-g', 'false', '-t', 'a'], { graceful: 'false', target: 'a' }, []],
    [['cli', '-t', 'a'], { target: 'a' }, []],
    [['cli', '-t', 'a', '--', 'ip', '-4', 'addr'], { target: 'a' }, ['ip', '-4', 'addr']],
    [['cli', '-t', 'a', 'ip', '-4', 'addr'], { target: 'a' }, ['ip', '-4', 'addr']],
    [['logs', '-t', 'a', '-f', '-n', '5'], { target: 'a', follow: true, lines: '5' }, []],
    [['teardown', 'my run', '-y'], { yes: true }, ['my run']],
    [['clearping'], {}, []],
    [['help', 'stop'], {}, ['stop']],
    [['exit', '3'], {}, ['3']],
    [['quit'], {}, []],
  ];
  for (const [w, flags, args] of ok)
    it(`parses ${w.join(' ')}`, () => {
      const p = parseCommand(w);
      assert.deepEqual(p.flags, flags);
      assert.deepEqual(p.args, args);
    });

  const bad: [string[], RegExp][] = [
    [['frobnicate'], /unknown command "frobnicate"/],
    [['def'], /-f FILE is required/],
    [['def', '-f'], /-f needs a value/],
    [['stop', '-t', 'a', '-g', 'maybe'], /-g takes true or false, not "maybe"/],
    [['stop', '-g', 'true'], /-t INSTANCE is required/],
    [['list', '-x'], /unknown option -x/],
    [['list', 'extra'], /list takes no argument/],
    [['list', '-d', 'a', '-d', 'b'], /-d given twice/],
    [['logs', '-t', 'a', '-n', 'many'], /-n takes a number/],
    [['teardown', 'a', 'b'], /too many arguments/],
    [['exit', 'soon'], /CODE must be a number/],
    [['exit', '256'], /CODE must be a number 0-255/],
    [['list', '--json=false'], /--json takes no value/],
  ];
  for (const [w, re] of bad)
    it(`rejects ${w.join(' ')} with a usage error (exit 2) and the usage`, () => {
      assert.throws(
        () => parseCommand(w),
        (e: unknown) => e instanceof MyikeError && e.exitCode === 2 && re.test(e.message) && /usage|help/.test(e.hint ?? ''),
      );
    });

  it('has help for every command and lists them all', () => {
    const all = helpText();
    for (const s of SPECS) {
      assert.ok(all.includes(s.usage), s.name);
      assert.match(commandHelp(s), new RegExp(`^usage: ${s.name}`));
    }
    assert.match(commandHelp(findSpec('stop')!), /-g, --graceful true\|false/);
  });

  it('wraps help to the terminal: summaries beside the usages at 80 columns, below them when narrower', () => {
    for (const width of [80, 50]) {
      const text = helpText(SPECS, width);
      for (const line of text.split('\n')) assert.ok(line.length <= width, `${width}: ${line}`);
      for (const s of SPECS) assert.ok(text.includes(s.usage), s.name);
      assert.equal(text.replace(/\s+/g, ' '), helpText().replace(/\s+/g, ' '), 'the same words');
      for (const s of SPECS) for (const line of commandHelp(s, width).split('\n').slice(1, 2)) assert.ok(line.length <= width, `${width}: ${line}`);
    }
    assert.match(helpText(SPECS, 80), /\ncli -t INSTANCE \[-- COMMAND\.\.\.\] {3}interactive session: the engine's CLI \(myikev2\n {34}instance\)/);
    assert.match(helpText(SPECS, 50), /\nstop \[-g true\|false\] -t INSTANCE\n {4}stop one instance:/);
  });
});

describe('shell: completion', () => {
  const names: CompletionNames = { instances: ['alpha', 'beta', 'run2/alpha'], daemons: ['srv1', 'srv2'], runs: ['shell-test', 'other run'] };
  const fs: Record<string, string[]> = { '.': ['recipe.yaml', 'recipes/', '.hidden', 'notes.txt'], 'recipes/': ['a.yaml', 'b.yaml'], '/etc/': ['hosts', 'hostname'] };
  const listDir = (d: string) => fs[d] ?? [];
  const c = (line: string) => complete(line, names, listDir);

  const cases: [string, string[], string][] = [
    ['', [...SPECS.flatMap((s) => [s.name, ...(s.aliases ?? [])])].sort(), ''],
    ['li', ['list '], 'li'],
    ['c', ['clearping', 'cli'], 'c'],
    ['cli -t ', ['alpha', 'beta', 'run2/alpha'], ''],
    ['cli -t b', ['beta '], 'b'],
    ['stop -g ', ['false', 'true'], ''],
    ['stop -g t', ['true '], 't'],
    ['list -d s', ['srv1', 'srv2'], 's'],
    ['list --', ['--daemon', '--json', '--wide'], '--'],
    ['list -d srv1 --', ['--json', '--wide'], '--'],
    ['def -f ', ['notes.txt', 'recipe.yaml', 'recipes/'], ''],
    ['def -f rec', ['recipe.yaml', 'recipes/'], 'rec'],
    ['def -f recipes/a', ['recipes/a.yaml '], 'recipes/a'],
    ['def -f /etc/hostn', ['/etc/hostname '], '/etc/hostn'],
    ['def -f .h', ['.hidden '], '.h'],
    ['teardown o', [`'other run' `], 'o'],
    ['help st', ['stop '], 'st'],
    ['list; cli -t a', ['alpha '], 'a'],
    ['cli -t a -- ip a', [], 'a'],
    ['nosuch -', [], '-'],
  ];
  for (const [line, want, replaced] of cases)
    it(`completes ${JSON.stringify(line)}`, () => {
      const [cands, sub] = c(line);
      assert.deepEqual(cands, want);
      assert.equal(sub, replaced);
    });

  it('lists files of the directory typed so far', () => {
    assert.deepEqual(files('recipes/', listDir), ['recipes/a.yaml', 'recipes/b.yaml']);
    assert.deepEqual(files('nothing/x', listDir), []);
  });
});
