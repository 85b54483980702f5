import assert from 'node:assert/strict';
import { forwardingCulprits, parseFacts } from '../../src/transport/preflight.js';

describe('preflight (pure parts)', () => {
  const facts: Array<[string, string, RegExp[]]> = [
    ['node=v20.20.2\nip=/usr/sbin/ip\nuid=0\n', 'ok', []],
    ['node=v22.1.0\nip=/sbin/ip\nuid=1000\n', 'ok', []],
    ['node=v18.19.0\nip=/usr/sbin/ip\nuid=0\n', 'bad', [/node v18\.19\.0 is too old: install Node\.js 20 or newer on s1/]],
    ['node=\nip=/usr/sbin/ip\nuid=0\n', 'bad', [/no `node` on PATH.*install Node\.js 20 or newer on s1/]],
    ['node=v20.0.0\nip=\nuid=0\n', 'bad', [/no `ip` command: install iproute2 on s1/]],
    ['node=\nip=\nuid=0\n', 'bad', [/node/, /iproute2/]],
  ];
  for (const [out, want, problems] of facts) {
    it(`facts ${JSON.stringify(out)} → ${want}`, () => {
      const r = parseFacts('s1', out);
      assert.equal(r.problems.length, problems.length);
      problems.forEach((re, i) => assert.match(r.problems[i], re));
      if (want === 'ok') assert.equal(r.facts?.node, out.split('\n')[0].slice(5));
      else assert.equal(r.facts, undefined);
    });
  }

  it('names the sshd settings that block stream-local forwarding', () => {
    const out = [
      'allowtcpforwarding yes',
      'allowstreamlocalforwarding no',
      'disableforwarding yes',
      'permitopen any',
      'authorized_keys restrict',
      'authorized_keys permitopen="127.0.0.1:80"',
    ].join('\n');
    assert.deepEqual(forwardingCulprits(out), [
      'AllowStreamLocalForwarding no',
      'DisableForwarding yes',
      'authorized_keys option restrict',
      'authorized_keys option permitopen="127.0.0.1:80"',
    ]);
    assert.deepEqual(forwardingCulprits('allowtcpforwarding remote\npermitopen 10.0.0.1:22'), ['AllowTcpForwarding remote', 'PermitOpen 10.0.0.1:22']);
    assert.deepEqual(forwardingCulprits('allowtcpforwarding yes\nallowstreamlocalforwarding yes\npermitopen any\ndisableforwarding no'), []);
  });
});
