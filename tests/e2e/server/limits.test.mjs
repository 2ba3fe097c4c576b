// Limits on a server started with --parallel 1 --max-connections 4 --timeout 2 --max-header-bytes 8192 --max-queue 1:
// oversized headers, the connection cap (idle connections closed first), the idle timeout, and 503 when the queue
// is full.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { LIMITS_BASE_URL } from './common.mjs';

const skip = LIMITS_BASE_URL ? false : 'CINDER_LIMITS_BASE_URL not set';
const url = LIMITS_BASE_URL ? new URL(LIMITS_BASE_URL) : null;
const root = LIMITS_BASE_URL ? LIMITS_BASE_URL.replace(/\/v1$/, '') : '';

/* Opens a TCP connection; resolves with the socket once connected. */
function connect() {
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(url.port), url.hostname, () => resolve(s));
    s.on('error', reject);
  });
}

/* Resolves with how long (ms) until the socket is closed by the server, or null after `ms`. */
function closedWithin(s, ms) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
    s.on('error', () => {});
    s.resume();
  });
}

describe('limits', { skip }, () => {
  it('headers larger than --max-header-bytes are refused', async () => {
    const r = await fetch(root + '/health', { headers: { 'x-big': 'a'.repeat(16384) } }).catch((e) => e);
    if (r instanceof Error) return; // the server closed the connection: refused as well
    assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
    await r.text();
    assert.equal((await fetch(root + '/health')).status, 200);
  });

  it('at --max-connections, idle connections are closed first so a new client is served', async () => {
    const held = [];
    for (let i = 0; i < 4; i++) held.push(await connect());
    await new Promise((r) => setTimeout(r, 100)); // the server has accepted all four
    const closed = held.map((s) => new Promise((r) => s.on('close', () => r(true))));
    const extra = await connect();
    let got = '';
    extra.on('data', (d) => { got += d; });
    extra.on('error', () => {});
    extra.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const t0 = Date.now();
    while (!got.includes('"status":"ok"') && Date.now() - t0 < 1500) await new Promise((r) => setTimeout(r, 20));
    const nClosed = (await Promise.all(closed.map((p) => Promise.race([p, new Promise((r) => setTimeout(r, 200, false))]))))
      .filter(Boolean).length;
    for (const s of held) s.destroy();
    extra.destroy();
    assert.match(got, /^HTTP\/1\.1 200/, 'a new client is answered at once');
    assert.ok(nClosed >= 1, 'the oldest idle connection was closed to make room');
  });

  it('an idle connection is closed after --timeout', async () => {
    await new Promise((r) => setTimeout(r, 200)); // let the previous test's sockets go
    const s = await connect();
    const t = await closedWithin(s, 6000);
    assert.ok(t !== null && t >= 1000, `closed after ${t} ms`);
  });

  it('503 when the queue is full; the SDK sees an InternalServerError', async () => {
    const c = new OpenAI({ baseURL: LIMITS_BASE_URL, apiKey: 'x', maxRetries: 0 });
    const model = (await c.models.list()).data[0].id;
    const ctl = new AbortController();
    const running = await c.completions.create({ model, prompt: 'Once', max_tokens: 2000, stream: true },
      { signal: ctl.signal });
    const it = running[Symbol.asyncIterator]();
    await it.next(); // running now, so the queue is empty
    const ctl2 = new AbortController();
    const queued = c.completions.create({ model, prompt: 'Once', max_tokens: 2000 }, { signal: ctl2.signal })
      .catch((e) => e);
    // as soon as the second one waits (while the first still generates: a fixed delay raced the first's end)
    for (let i = 0; i < 200; i++) {
      const h = await (await fetch(root + '/health')).json();
      if (h.queued >= 1 && h.running >= 1) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    let err = null;
    try {
      await c.completions.create({ model, prompt: 'Once', max_tokens: 5 });
    } catch (e) {
      err = e;
    }
    ctl.abort();
    ctl2.abort();
    await queued;
    assert.ok(err instanceof OpenAI.InternalServerError, `got ${err}`);
    assert.equal(err.status, 503);
    assert.equal(err.headers.get('retry-after'), '1');
    assert.equal(err.code, 'server_overloaded');
  });
});
