import assert from 'node:assert/strict';
import type { InstanceRecord } from '../../src/run/manifest.js';
import { renderTeardownScript } from '../../src/run/render.js';

const record: InstanceRecord = {
  id: 1, name: 'a', server: 'srv1', kind: 'other', netns: 'm1234-a', vethHost: 'm1234h1', daemonName: 'm1234-a',
  runDir: '/run/myikev2/runs/m1234/a', logdir: '/var/log/myikev2/m1234/a', mgmtAddr: '2001:db8::1:1', dataIf: 'data0', dataIfAddr: '192.168.9.1/24',
  dataIfOrig: { addrs: ['100.87.83.1/24 brd 100.87.83.255', 'fd77::1/64 nodad noprefixroute'], up: true, mtu: 1500, routes: ['10.99.0.0/16 via 100.87.83.2', '::/0 via fe80::1 metric 2000 pref medium'] },
  destroycmds: '', hash: 'h',
};

describe('run/render: giving a data interface back', () => {
  it('puts back its MTU, its addresses with their options, then its state, then the routes through it', () => {
    const script = renderTeardownScript('m1234', 'srv1', [record]);
    const batch = /restore="\$restore"'\n([^']*)'/.exec(script)![1]; // what the ip batch gets once the interface is back
    assert.deepEqual(batch.split('\n'), [
      'link set data0 mtu 1500',
      'addr add 100.87.83.1/24 brd 100.87.83.255 dev data0',
      'addr add fd77::1/64 nodad noprefixroute dev data0',
      'link set data0 up',
      'route replace 10.99.0.0/16 via 100.87.83.2 dev data0',
      'route replace ::/0 via fe80::1 metric 2000 pref medium dev data0',
    ]);
  });

  it('a record of an older run (no routes) gives back addresses and state only', () => {
    const script = renderTeardownScript('m1234', 'srv1', [{ ...record, dataIfOrig: { addrs: ['100.87.83.1/24'], up: false } }]);
    assert.match(script, /addr add 100\.87\.83\.1\/24 dev data0\nlink set data0 down'/);
    assert.doesNotMatch(script, /route replace/);
  });

  it('refuses anything but plain words from a manifest (it is pasted into a script)', () => {
    const evil = { ...record, dataIfOrig: { addrs: ["1.2.3.4/32'; reboot; '"], up: true } };
    assert.throws(() => renderTeardownScript('m1234', 'srv1', [evil]), /not plain words/);
  });
});
