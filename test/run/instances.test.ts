import assert from 'node:assert/strict';
import { commandArgv } from '../../src/run/instances.js';

// Command lines as data: [upcmds, argv the daemon gets].
const CASES: [string, string[]][] = [
  ['exec sleep 3600', ['sleep', '3600']],
  ['  sleep 3600\n', ['sleep', '3600']],
  ['/usr/sbin/charon-systemd --debug-ike=2', ['/usr/sbin/charon-systemd', '--debug-ike=2']],
  ['ipsec start', ['ipsec', 'start']],
  ['sleep 3600; echo done', ['sh', '-c', 'sleep 3600; echo done']],
  ['exec sleep $TIME', ['sh', '-c', 'exec sleep $TIME']],
  ["echo 'a b'", ['sh', '-c', "echo 'a b'"]],
  ['ls *.conf', ['sh', '-c', 'ls *.conf']],
  ['cat ~/x', ['sh', '-c', 'cat ~/x']],
  ['charon > log 2>&1', ['sh', '-c', 'charon > log 2>&1']],
  ['FOO=1 charon', ['sh', '-c', 'FOO=1 charon']],
  ['cd /tmp', ['sh', '-c', 'cd /tmp']],
  [': nothing', ['sh', '-c', ': nothing']],
  ['a\nb', ['sh', '-c', 'a\nb']],
  ['exec', ['sh', '-c', 'exec']],
];

describe('run/instances: commandArgv', () => {
  for (const [cmd, argv] of CASES) {
    it(`${JSON.stringify(cmd)} → ${JSON.stringify(argv)}`, () => assert.deepEqual(commandArgv(cmd), argv));
  }
});
