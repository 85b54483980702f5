import { strict as assert } from 'node:assert';
import { createServer } from 'node:net';
import { EngineClient } from '../../../src/engine/cli/client.js';

describe('engine cli: client', () => {
  it('names an IPv6 API address it cannot reach as [ADDR]:PORT, so the port is not read as part of the address', async () => {
    // A port nothing listens on: take a free one and close it again.
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '::1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise((r) => srv.close(r));
    await assert.rejects(EngineClient.connect({ addr: '::1', port }), (e: Error) => {
      assert.match(e.message, new RegExp(`^cannot reach the engine at \\[::1\\]:${port}: `));
      return true;
    });
  });
});
