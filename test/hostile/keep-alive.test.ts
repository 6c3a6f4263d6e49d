/**
 * An idle kept-alive connection stays usable longer than Node's 5 s default (clients and proxies reuse theirs for
 * up to 60 s; a connection the server closes just then costs a failed request).
 */
import http from 'node:http';
import { expect } from 'chai';
import { engine } from '../support/harness.js';
import { HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS } from '../../src/app/engine.js';

/** A GET on the agent: status, whether the request went on a reused connection, and that connection's local port. */
function get(agent: http.Agent, url: string): Promise<{ status: number; reused: boolean; local: number | undefined }> {
  return new Promise((resolve, reject) => {
    let local: number | undefined;
    const req = http.get(url, { agent }, (res) => {
      local = res.socket.localPort;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, local }));
    });
    req.on('error', reject);
  });
}

describe('hostile conditions: keep-alive', function () {
  this.timeout(30_000);

  it('the server keeps idle connections 65 s, headers timeout just above', () => {
    expect(engine().server.keepAliveTimeout).to.equal(KEEP_ALIVE_TIMEOUT_MS).and.to.equal(65_000);
    expect(engine().server.headersTimeout).to.equal(HEADERS_TIMEOUT_MS).and.to.be.above(KEEP_ALIVE_TIMEOUT_MS);
  });

  it('an idle kept-alive connection is still usable after 6 s', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(agent, `${engine().url}/healthz`);
      expect(first).to.include({ status: 200, reused: false });
      await new Promise((r) => setTimeout(r, 6_000));
      const second = await get(agent, `${engine().url}/healthz`);
      expect(second).to.deep.equal({ status: 200, reused: true, local: first.local });
    } finally {
      agent.destroy();
    }
  });
});
