import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ConnectionPool } from '/work/main/dist/src/transport/connect.js';
import { loadConfig } from '/work/main/dist/src/model/load.js';
import { loadBundle } from '/work/main/dist/src/transport/bundle.js';
import { ensureDaemon } from '/work/main/dist/src/transport/ensure-daemon.js';
const { config } = loadConfig('/tmp/b/lab/controller.yaml');
const pool = new ConnectionPool(config.servers);
const t = await pool.get('srv1');
for (let i = 0; i < 3; i++) {
  const d = await ensureDaemon(t, await loadBundle());
  const hostPid = Number(execSync("pgrep -f 'myikev2-server.mjs daemon' | head -1").toString());
  await new Promise(r => setTimeout(r, 300));
  const t0 = performance.now();
  await d.client.request('shutdown', {});
  const t1 = performance.now();
  let closedAt = null; d.client.once('close', () => closedAt = performance.now());
  while (existsSync(`/proc/${hostPid}/stat`) && !/ Z /.test(execSync(`cat /proc/${hostPid}/stat 2>/dev/null || true`).toString())) await new Promise(r => setTimeout(r, 2));
  const t2 = performance.now();
  console.log('shutdown reply', (t1 - t0).toFixed(0), 'conn closed', closedAt ? (closedAt - t0).toFixed(0) : '-', 'pid gone', (t2 - t0).toFixed(0));
}
await pool.closeAll();
