// KernelFastPath's bookkeeping and ordering, with a fake script runner: which
// script each install/remove produces, and in which order they run. The
// scripts themselves: xfrm-script.test.ts (golden) and kernel.test.ts.
import assert from 'node:assert/strict';
import { KernelFastPath } from '../../../src/engine/fastpath/fast-path.js';
import { keyPair, v4ts } from '../esp/fixtures.js';

const lines = (scripts: string[], re: RegExp) => scripts.flatMap((s) => s.trim().split('\n')).filter((l) => re.test(l));

/** A runner that records scripts and takes `ms` for each (a slow `ip -batch`). */
function slowRunner(ms: (script: string) => number = () => 5) {
  const scripts: string[] = [];
  const log: string[] = [];
  const run = async (s: string) => {
    const i = scripts.push(s) - 1;
    log.push(`start ${i}`);
    await new Promise((r) => setTimeout(r, ms(s)));
    log.push(`end ${i}`);
  };
  return { scripts, log, run };
}

describe('fast path: KernelFastPath bookkeeping and order', () => {
  it('two installs for one tunnel back to back (the second before the first script ended) add its policies once', async () => {
    const r = slowRunner();
    const fp = new KernelFastPath({}, r.run);
    const [a] = keyPair({ tunnelId: 1, childId: 'a' });
    const [b] = keyPair({ tunnelId: 1, childId: 'b', spi: 0xd0000000 }); // a second CHILD SA (rekey, or childlist[1]) with the same selectors
    await Promise.all([fp.install(a), fp.install(b)]);
    assert.equal(lines(r.scripts, /^xfrm policy /).length, 3, r.scripts.join('---\n'));
    assert.equal(lines(r.scripts, /^xfrm state add/).length, 4);
    assert.deepEqual(r.log, ['start 0', 'end 0', 'start 1', 'end 1'], 'one after the other');
    await Promise.all([fp.remove('a'), fp.remove('b')]);
    assert.equal(lines(r.scripts, /^xfrm policy delete/).length, 3, 'deleted once, with the last SA');
    assert.equal(lines(r.scripts, /^xfrm state delete/).length, 4);
  });

  it('the same install or remove twice is done once', async () => {
    const r = slowRunner(() => 1);
    const fp = new KernelFastPath({}, r.run);
    const [a] = keyPair({ tunnelId: 1, childId: 'a' });
    await Promise.all([fp.install(a), fp.install(a)]);
    await fp.install(a);
    assert.equal(r.scripts.length, 1);
    await Promise.all([fp.remove('a'), fp.remove('a')]);
    assert.equal(r.scripts.length, 2);
  });

  it('a remove called while its install still runs removes what the install put in, after it', async () => {
    const r = slowRunner();
    const fp = new KernelFastPath({}, r.run);
    const [a] = keyPair({ tunnelId: 1, childId: 'a' });
    await Promise.all([fp.install(a), fp.remove('a')]);
    assert.equal(r.scripts.length, 2);
    assert.equal(lines(r.scripts.slice(1), /^xfrm (state|policy) delete/).length, 5);
    assert.deepEqual(r.log, ['start 0', 'end 0', 'start 1', 'end 1']);
  });

  it('policies are added with update (add or replace): a policy left in the kernel does not fail the install with "File exists"', async () => {
    const r = slowRunner(() => 1);
    const fp = new KernelFastPath({}, r.run);
    await fp.install(keyPair({ tunnelId: 1, childId: 'a' })[0]);
    assert.equal(lines(r.scripts, /^xfrm policy add/).length, 0);
    assert.equal(lines(r.scripts, /^xfrm policy update/).length, 3);
  });

  it('a reconnect without INITIAL_CONTACT (new tunnel number, same selectors, no mark) takes the policies over; the old tunnel leaves them when it goes', async () => {
    const r = slowRunner(() => 1);
    const fp = new KernelFastPath({}, r.run);
    const ts = { clientTs: [v4ts('10.1.0.9')] };
    const [old] = keyPair({ tunnelId: 1, childId: 'old', ...ts });
    const [next] = keyPair({ tunnelId: 4, childId: 'new', spi: 0xd0000000, ...ts });
    await fp.install(old);
    await fp.install(next);
    assert.equal(lines([r.scripts[1]], /^xfrm policy update .* reqid 4 /).length, 3, 'the new tunnel\'s template replaces the old one');
    await fp.remove('old'); // DPD gives up on the old SA later
    assert.equal(lines([r.scripts[2]], /^xfrm policy/).length, 0, 'the policies are the new tunnel\'s now');
    assert.equal(lines([r.scripts[2]], /^xfrm state delete/).length, 2);
    await fp.remove('new');
    assert.equal(lines([r.scripts[3]], /^xfrm policy delete/).length, 3);
  });

  it('scripts of different tunnels that touch the same policy run in call order; others run side by side', async () => {
    const r = slowRunner((s) => (/delete/.test(s) ? 30 : 5));
    const fp = new KernelFastPath({}, r.run);
    const ts = { clientTs: [v4ts('10.1.0.9')] };
    await fp.install(keyPair({ tunnelId: 1, childId: 'old', ...ts })[0]);
    r.log.length = 0;
    // the old SA's removal (deletes the policies: slow) and then a new tunnel with the same selectors
    await Promise.all([fp.remove('old'), fp.install(keyPair({ tunnelId: 4, childId: 'new', spi: 0xd0000000, ...ts })[0])]);
    assert.deepEqual(r.log, ['start 1', 'end 1', 'start 2', 'end 2'], 'the add waits for the delete of the same policies');
    assert.equal(lines([r.scripts[2]], /^xfrm policy update/).length, 3);
    r.log.length = 0;
    await Promise.all([fp.install(keyPair({ tunnelId: 5, childId: 'x', spi: 0xe0000000 })[0]), fp.install(keyPair({ tunnelId: 6, childId: 'y', spi: 0xf0000000 })[0])]);
    assert.deepEqual(r.log, ['start 3', 'start 4', 'end 3', 'end 4'], 'unrelated tunnels do not wait for each other');
  });

  it('a failed script does not hold up the next one of the tunnel', async () => {
    let fail = true;
    const scripts: string[] = [];
    const fp = new KernelFastPath({}, async (s) => {
      scripts.push(s);
      if (fail) {
        fail = false;
        throw new Error('ip -batch failed');
      }
    });
    const [a] = keyPair({ tunnelId: 1, childId: 'a' });
    const [b] = keyPair({ tunnelId: 1, childId: 'b', spi: 0xd0000000 });
    const results = await Promise.allSettled([fp.install(a), fp.install(b)]);
    assert.deepEqual(results.map((x) => x.status), ['rejected', 'fulfilled']);
    assert.equal(scripts.length, 2);
  });

  it('KernelFastPath: policies with the first SA of a tunnel, only states on rekey, all gone with the last', async () => {
    const scripts: string[] = [];
    const fp = new KernelFastPath({}, async (s) => void scripts.push(s));
    const [a] = keyPair({ tunnelId: 1, childId: 'a' });
    const [b] = keyPair({ tunnelId: 1, childId: 'b', spi: 0xd0000000 });
    await fp.install(a);
    await fp.install(b);
    await fp.remove('a');
    await fp.remove('b');
    await fp.remove('b'); // unknown: nothing
    assert.equal(scripts.length, 4);
    assert.match(scripts[0], /xfrm policy update/);
    assert.doesNotMatch(scripts[1], /policy/);
    assert.doesNotMatch(scripts[2], /policy/);
    assert.match(scripts[3], /xfrm policy delete/);
    assert.match(scripts[3], /spi 0xd0000000/);
  });

  it('KernelFastPath: an SA replacing another under the same tunnel number installs after the old one is gone', async () => {
    const log: string[] = [];
    // the removal is slow: run at once, the install would add the policies before they are deleted
    const fp = new KernelFastPath({ mark: true }, async (s) => {
      const what = /policy delete/.test(s) ? 'remove' : 'install';
      log.push(`${what} start`);
      await new Promise((r) => setTimeout(r, what === 'remove' ? 30 : 1));
      log.push(`${what} end`);
    });
    const [old] = keyPair({ tunnelId: 1, childId: 'old' });
    const [next] = keyPair({ tunnelId: 1, childId: 'new', spi: 0xd0000000 });
    await fp.install(old);
    log.length = 0;
    await Promise.all([fp.remove('old'), fp.install(next)]);
    assert.deepEqual(log, ['remove start', 'remove end', 'install start', 'install end']);
  });
});
