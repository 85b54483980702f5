// preflight against a lab server whose sshd refuses stream-local forwarding:
// there sshd is PID 1 of the server's PID namespace, and the setting must
// still be named (ssh.integration.test.ts covers an sshd that is not PID 1).
import assert from 'node:assert/strict';
import { MyikeError } from '../../src/errors.js';
import { connectServer } from '../../src/transport/connect.js';
import { preflight } from '../../src/transport/preflight.js';
import { useLab } from '../support/lab.js';

describe('preflight on a lab server that refuses stream-local forwarding @integration', function () {
  this.timeout(120_000);
  const env = useLab({ servers: 1, sshdConfig: ['AllowStreamLocalForwarding no'] });

  it('names AllowStreamLocalForwarding no, read from the config of the sshd serving us (PID 1 there)', async () => {
    const s = env.lab.servers[0]!;
    const t = await connectServer({
      name: s.name, connection: 'ssh', daemonaddr: s.sshAddr, daemonport: 0, sshaddr: s.sshAddr, sshport: s.sshPort,
      sshuser: 'root', sshkeypath: env.lab.keyPath, knownhosts: env.lab.knownHostsPath, hostkeycheck: 'strict', mgmtaddrprefix: s.mgmtPrefix,
    });
    try {
      await assert.rejects(preflight(t), (e: MyikeError) => {
        assert.equal(e.code, 'E_PREFLIGHT_FORWARDING');
        assert.match(e.message, /: AllowStreamLocalForwarding no/);
        return true;
      });
    } finally {
      await t.close();
    }
  });
});
