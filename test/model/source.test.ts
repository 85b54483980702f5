// Two YAML readers, one meaning: a plain document's value comes from js-yaml
// (fast), anything else, and every position, from yaml. These tests hold the
// fast path to yaml's reading, on every YAML file of the project and on the
// scalars where YAML libraries tend to disagree.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { Diagnostics, locate, plainValue, readYaml } from '../../src/model/source.js';
import { readSetup } from '../../src/model/setup.js';
import { PROJECT_ROOT } from '../support/paths.js';

/** yaml's value of a text, or undefined when yaml finds an error in it. */
function yamlValue(text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: false });
  return doc.errors.length > 0 ? undefined : doc.toJS({ maxAliasCount: 100 });
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

/** Runs fn with a YAML file holding text, in a directory removed afterwards. */
function withYamlFile(text: string, fn: (file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'myikev2-source-'));
  try {
    const file = join(dir, 'a.yaml');
    writeFileSync(file, text);
    fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** withYamlFile, giving back what fn returns. */
function withYamlFileResult<T>(text: string, fn: (file: string) => T): T {
  let out: T;
  withYamlFile(text, (file) => void (out = fn(file)));
  return out!;
}

const SCALARS = [
  '1', '-1', '+1', '0', '007', '0o17', '-0o17', '0x1F', '0X1F', '1_000', '1.5', '1.', '.5', '-.5', '1e3', '1E-3', '1.5e+3',
  '+.inf', '-.INF', '.Inf', '.nan', '.NaN', 'nan', 'inf', 'true', 'True', 'TRUE', 'tRue', 'false', 'yes', 'no', 'on', 'off', 'y', 'n',
  'null', 'Null', 'NULL', '~', '', '2020-01-01', '2020-01-01T10:00:00Z', '12:30', '1:30:00', '0b101', '123456789012345678901234', '-0', '0.0',
  '"1"', "'1'", '<<', '=', 'fe80::1', '10.0.0.1/24', '"\\x41\\u263A\\N\\_"', '|\n  a\n  b\n', '>-\n  a\n  b\n', '[1, 2]', '{a: 1}',
  '"a\\tb"', "'it''s'", 'a #c', '#c', 'exec sleep 3600 && echo *', 'a: b', '- a',
];

describe('model: YAML sources', () => {
  it('reads every YAML file of the project as yaml does', () => {
    const files = ['examples', 'playbooks', 'test/fixtures'].flatMap((d) => yamlFiles(join(PROJECT_ROOT, d)));
    assert.ok(files.length > 100, `only ${files.length} files`);
    let fast = 0;
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const plain = plainValue(text);
      if (plain) {
        fast++;
        assert.deepEqual(plain.value, yamlValue(text), file);
      }
    }
    assert.ok(fast > files.length * 0.8, `the fast path read only ${fast} of ${files.length} files`);
  });

  for (const scalar of SCALARS) {
    it(`reads ${JSON.stringify(scalar)} as yaml does, or leaves it to yaml`, () => {
      const text = `v: ${scalar}\n`;
      const plain = plainValue(text);
      if (plain) assert.deepEqual(plain.value, yamlValue(text));
      else assert.equal(yamlValue(text), undefined, 'only an error of js-yaml leaves a plain value to yaml');
    });
  }

  const notPlain: [string, string][] = [
    ['an anchor and an alias', 'a: &x {b: 1}\nc: *x\n'],
    ['a tag', 'a: !!float 3\n'],
    ['a directive', '%YAML 1.2\n---\na: 1\n'],
    ['two documents', 'a: 1\n---\nb: 2\n'],
    ['a duplicate key', 'a: 1\na: 2\n'],
    ['a number and a string that are one key', "1: a\n'1': b\n"],
    ['a complex key', '? [a, b]\n: 1\n'],
    ['an empty file', ''],
    ['a syntax error', 'a: b: c\n'],
  ];
  for (const [what, text] of notPlain) {
    it(`leaves ${what} to yaml`, () => assert.equal(plainValue(text), undefined));
  }

  it('gives a value read by yaml (aliases expanded) and a position in it', () =>
    withYamlFile('base: &b\n  port: 1\ncopy: *b\nbad: !!float 3\n', (file) => {
      const diag = new Diagnostics();
      const src = readYaml(file, diag);
      assert.ok(src.ok && diag.ok);
      assert.deepEqual(src.data, { base: { port: 1 }, copy: { port: 1 }, bad: '3' });
      assert.deepEqual(locate(src, ['copy'], 'value'), { file, line: 3, col: 7 });
    }));

  it('reads a plain file fast and still places a problem in it', () =>
    withYamlFile('name: x\ninstancelist:\n  1:\n    name: i1\n    port: 99999\n', (file) => {
      const diag = new Diagnostics();
      const src = readYaml(file, diag);
      assert.ok(src.ok && diag.ok);
      diag.error(src, ['instancelist', 1, 'port'], { message: 'is too big' });
      assert.deepEqual(diag.errors[0].location, { file, line: 5, col: 11 });
      assert.equal(diag.errors[0].excerpt, '    port: 99999');
    }));

  it('says a missing file\'s relative path is taken from the current directory (the command line\'s, not a recipe\'s)', () => {
    const diag = new Diagnostics();
    readYaml('no-such-dir/controller.yaml', diag);
    assert.equal(diag.errors[0].message, 'file not found: no-such-dir/controller.yaml');
    assert.equal(diag.errors[0].hint, `check the path (relative to the current directory, ${process.cwd()})`);
  });

  it('says an empty file name is one (it named no file: ":1:1: error: file not found: ")', () => {
    const diag = new Diagnostics();
    assert.equal(readYaml('', diag).ok, false);
    assert.equal(diag.errors[0].message, 'an empty file name was given');
    assert.equal(diag.errors[0].location?.file, '(no file)');
  });

  it('says a directory given for a file is one, and what to give instead', () => {
    const diag = new Diagnostics();
    readYaml(tmpdir(), diag);
    assert.equal(diag.errors[0].message, `${tmpdir()} is a directory (expected a YAML file)`);
    assert.equal(diag.errors[0].hint, 'give the path of the YAML file, not of its directory');
  });

  it('never shows a secret in the line quoted by an error (wrong type, YAML syntax)', () => {
    withYamlFile('ikeconf:\n  psk: 98765432123\n', (file) => {
      const diag = new Diagnostics();
      const src = readYaml(file, diag);
      diag.error(src, ['ikeconf', 'psk'], { message: 'wrong type', expected: 'string' });
      assert.equal(diag.errors[0].excerpt, '  psk: <secret>');
    });
    withYamlFile('a:\n  sshpass: "hunter2\n', (file) => {
      const diag = new Diagnostics();
      readYaml(file, diag);
      assert.ok(diag.errors.length >= 1);
      for (const e of diag.errors) assert.ok(!e.describe().includes('hunter2'), e.describe());
    });
  });

  it('says a file that is not UTF-8 text is not (UTF-16, a binary), not "is not a mapping of keys"', () => {
    for (const [bytes, message] of [
      [Buffer.from('\ufeffrole: client\n', 'utf16le'), 'is not UTF-8 text (it looks like UTF-16)'],
      [Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x00, 0xff]), 'is not UTF-8 text'],
    ] as const) {
      const diag = new Diagnostics();
      withYamlFile('', (file) => {
        writeFileSync(file, bytes);
        assert.equal(readYaml(file, diag).ok, false);
        assert.equal(diag.errors.length, 1);
        assert.equal(diag.errors[0].message, `${file} ${message}`);
      });
    }
  });

  it('says a second YAML document is one, in words, not the library\'s ("use YAML.parseAllDocuments()")', () =>
    withYamlFile('a: 1\n---\nb: 2\n', (file) => {
      const diag = new Diagnostics();
      readYaml(file, diag);
      assert.equal(diag.errors.length, 1);
      assert.equal(diag.errors[0].message, 'YAML: a second document (after "---"): a file holds one');
      assert.equal(diag.errors[0].location!.line, 2);
    }));

  it('reports syntax errors and duplicate keys at their lines', () =>
    withYamlFile('a: 1\nb: [\nc: 2\na: 3\n', (file) => {
      const diag = new Diagnostics();
      const src = readYaml(file, diag);
      assert.equal(src.ok, false);
      assert.equal(src.data, null);
      assert.ok(diag.errors.length >= 1);
      assert.ok(diag.errors.every((e) => e.location!.file === file && e.location!.line >= 2), diag.errors.map((e) => e.message).join('; '));
    }));

  it('shows the value of a misspelt key unless the key may be a misspelt secret', () => {
    const excerpts = (ike: string) =>
      withYamlFileResult(`role: gateway\nbindifname: x0\nbindifaddr: 10.0.0.1/24\n${ike}`, (file) => {
        const diag = new Diagnostics();
        readSetup(file, diag);
        return diag.errors.filter((e) => e.message.includes('unknown key')).map((e) => e.excerpt);
      });
    assert.deepEqual(excerpts('loglevl: 3\n'), ['loglevl: 3']);
    assert.deepEqual(excerpts('ikeconf:\n  dhgrpd: [19]\n'), ['  dhgrpd: [19]']);
    for (const secret of ['ikeconf:\n  pks: S3CRET\n', 'ikeconf:\n  ps: S3CRET\n', 'ikeconf:\n  password: S3CRET\n', 'ikeconf:\n  presharedkey: S3CRET\n'])
      assert.ok(excerpts(secret).every((e) => e?.endsWith(': <secret>')), secret);
  });

  // Error messages quote the offending line: never with a pre-shared key in it.
  const secretCases: [string, string][] = [
    ['a PSK of the wrong type', 'ikeconf:\n  psk: 12345678\n'],
    ['a PSK given twice', 'ikeconf:\n  psk: S3CRET-A\n  psk: S3CRET-B\n'],
    ['a misspelt psk key', 'ikeconf:\n  pks: S3CRET-A\n'],
    ['a PSK in a flow mapping next to an error', 'ikeconf: {psk: S3CRET-A, dhgrpid: [13]}\n'],
    ['a bad escape in a PSK over two lines', 'ikeconf:\n  psk: "S3CRET-A\n    S3CRET-B \\q"\n'],
    ['a PSK with an unclosed quote', 'ikeconf:\n  psk: "S3CRET-A\n  dhgrpid: [14]\n'],
    ['a PSK reached through an alias from a key whose error quotes its value', 'ikeconf:\n  psk: &k S3CRET-A\napilistenaddr: *k\n'],
    ['a PSK copied into another key', 'ikeconf:\n  psk: S3CRET-A\napilistenaddr: [S3CRET-A]\n'],
  ];
  for (const [what, ike] of secretCases) {
    it(`shows no secret in errors about ${what}`, () =>
      withYamlFile(`role: gateway\nbindifname: x0\nbindifaddr: 10.0.0.1/24\n${ike}`, (file) => {
        const diag = new Diagnostics();
        readSetup(file, diag);
        assert.ok(diag.errors.length > 0, 'the file has an error');
        const text = diag.errors.map((e) => e.describe()).join('\n');
        assert.doesNotMatch(text, /S3CRET|12345678/, text);
      }));
  }
});
