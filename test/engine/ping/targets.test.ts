import assert from 'node:assert/strict';
import { targetIndexInTs } from '../../../src/engine/ping/targets.js';
import { v4ts, v6ts } from '../esp/fixtures.js';

describe('targetIndexInTs: the configured gateway ping target inside a client selector', () => {
  it('a single-address selector holds its own target', () => {
    for (let k = 0; k < 10; k++) assert.equal(targetIndexInTs('10.10.0.1', 1, 10, [v4ts(`10.10.0.${k + 1}`)]), k);
    assert.equal(targetIndexInTs('10.10.0.1', 4, 10, [v4ts('10.10.0.9')]), 2);
    assert.equal(targetIndexInTs('10.10.0.1', 256, 3, [v4ts('10.10.2.1')]), 2);
  });

  it('a range that holds one target only: that one (steps larger than the range)', () => {
    assert.equal(targetIndexInTs('10.10.0.1', 4, 10, [v4ts('10.10.0.8', '10.10.0.11')]), 2);
    assert.equal(targetIndexInTs('10.10.0.1', 256, 100, [v4ts('10.10.5.0', '10.10.5.255')]), 5);
  });

  it('none inside: undefined (between two targets, before the first, after the last, other family)', () => {
    assert.equal(targetIndexInTs('10.10.0.1', 4, 10, [v4ts('10.10.0.2', '10.10.0.4')]), undefined);
    assert.equal(targetIndexInTs('10.10.0.5', 1, 10, [v4ts('10.10.0.1', '10.10.0.4')]), undefined);
    assert.equal(targetIndexInTs('10.10.0.1', 1, 3, [v4ts('10.10.0.4')]), undefined, 'k = 3 is past numberoftunnels');
    assert.equal(targetIndexInTs('10.10.0.1', 1, 3, [v6ts('2001:db8::1')]), undefined);
    assert.equal(targetIndexInTs('10.10.0.1', 1, 3, []), undefined);
  });

  it('several inside: undefined (a whole-space selector, a wide range, two selectors, deststep 0)', () => {
    assert.equal(targetIndexInTs('10.10.0.1', 1, 10, [v4ts('0.0.0.0', '255.255.255.255')]), undefined);
    assert.equal(targetIndexInTs('10.10.0.1', 1, 10, [v4ts('10.10.0.2', '10.10.0.3')]), undefined);
    assert.equal(targetIndexInTs('10.10.0.1', 1, 10, [v4ts('10.10.0.2'), v4ts('10.10.0.5')]), undefined);
    assert.equal(targetIndexInTs('10.10.0.1', 0, 10, [v4ts('10.10.0.1')]), undefined, 'every tunnel has the same target');
  });

  it('the same target in two selectors is still one; deststep 0 with one tunnel is one', () => {
    assert.equal(targetIndexInTs('10.10.0.1', 4, 10, [v4ts('10.10.0.9'), v4ts('10.10.0.8', '10.10.0.11')]), 2);
    assert.equal(targetIndexInTs('10.10.0.1', 0, 1, [v4ts('10.10.0.0', '10.10.0.255')]), 0);
  });

  it('IPv6, beyond what a number holds', () => {
    assert.equal(targetIndexInTs('2001:db8::1', 1, 1000, [v6ts('2001:db8::3e8')]), 999);
    assert.equal(targetIndexInTs('2001:db8::', 2 ** 32, 100, [v6ts('2001:db8::7:0:0', '2001:db8::7:ffff:ffff')]), 7);
    assert.equal(targetIndexInTs('2001:db8::1', 1, 10, [v6ts('::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')]), undefined);
  });

  it('at the end of the address space: no overflow, no wrap', () => {
    assert.equal(targetIndexInTs('255.255.255.254', 1, 2, [v4ts('255.255.255.255')]), 1);
    assert.equal(targetIndexInTs('255.255.255.254', 1, 5, [v4ts('0.0.0.0', '0.0.0.2')]), undefined);
  });
});
