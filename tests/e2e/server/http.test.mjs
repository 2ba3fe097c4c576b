// HTTP behaviour: response headers, CORS, several clients at once, clients that disconnect mid-stream or
// mid-request (their generation stops while other requests proceed), and /health and /v1/models answering
// while generation runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CORS_ORIGIN, ROOT_URL, client, get, modelId, post, reference } from './common.mjs';

/* A request that keeps a one-sequence engine busy for many seconds: 8 choices x 2000 tokens. */
async function longBody(stream) {
  return { model: await modelId(), prompt: 'Once upon a time', max_tokens: 2000, n: 8, temperature: 1, stream };
}

describe('http', () => {
  it('x-request-id and openai-processing-ms on every response', async () => {
    const ok = await get('/v1/models');
    const bad = await get('/nope');
    const gen = await post('/v1/completions', { model: await modelId(), prompt: 'a', max_tokens: 1 });
    const ids = new Set();
    for (const r of [ok, bad, gen]) {
      const id = r.headers.get('x-request-id');
      assert.ok(id && id.length >= 8);
      ids.add(id);
      assert.match(r.headers.get('openai-processing-ms') || '', /^\d+$/);
    }
    assert.equal(ids.size, 3, 'ids are unique');
  });

  it('CORS preflight and response headers', { skip: CORS_ORIGIN ? false : 'CINDER_CORS_ORIGIN not set' }, async () => {
    const pre = await fetch(ROOT_URL + '/v1/chat/completions', {
      method: 'OPTIONS',
      headers: { origin: CORS_ORIGIN, 'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, x-stainless-os' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), CORS_ORIGIN);
    assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
    assert.match(pre.headers.get('access-control-allow-headers'), /x-stainless-os/);
    const r = await get('/v1/models', { headers: { origin: CORS_ORIGIN } });
    assert.equal(r.headers.get('access-control-allow-origin'), CORS_ORIGIN);
    const other = await get('/v1/models', { headers: { origin: 'http://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });

  it('several concurrent clients each get their own greedy text', async () => {
    const ref = reference();
    const jobs = (ref.length ? ref : [{ prompt: 'The cat', n_predict: 20 }, { prompt: 'The dog', n_predict: 20 }])
      .slice(0, 4);
    const c = client();
    const model = await modelId();
    const solo = [];
    for (const r of jobs) {
      solo.push((await c.completions.create({ model, prompt: r.prompt, max_tokens: r.n_predict, temperature: 0 }))
        .choices[0].text);
    }
    const together = await Promise.all(jobs.map(async (r, i) => {
      if (i % 2) { // half of them streaming
        let t = '';
        const s = await client().completions.create({ model, prompt: r.prompt, max_tokens: r.n_predict, temperature: 0,
          stream: true });
        for await (const ch of s) t += ch.choices[0].text;
        return t;
      }
      return (await client().completions.create({ model, prompt: r.prompt, max_tokens: r.n_predict, temperature: 0 }))
        .choices[0].text;
    }));
    assert.deepEqual(together, solo);
  });

  it('a client that disconnects mid-stream stops its generation; the next request proceeds', async () => {
    const ctl = new AbortController();
    const res = await fetch(ROOT_URL + '/v1/completions', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify(await longBody(true)), signal: ctl.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    const first = await reader.read(); // generation has started
    assert.ok(!first.done);
    // /health and /v1/models answer while it generates
    let t0 = Date.now();
    assert.equal((await get('/health')).status, 200);
    assert.equal((await get('/v1/models')).status, 200);
    assert.ok(Date.now() - t0 < 2000, 'health and models answer at once');
    ctl.abort();
    await reader.cancel().catch(() => {});
    t0 = Date.now();
    const next = await client().completions.create({ model: await modelId(), prompt: 'The cat', max_tokens: 8 });
    assert.equal(next.choices.length, 1);
    // the aborted request would have held the engine for 16,000 tokens
    assert.ok(Date.now() - t0 < 8000, `the next request waited ${Date.now() - t0} ms`);
  });

  it('a client that disconnects while waiting for a non-streaming answer stops its generation', async () => {
    const ctl = new AbortController();
    const pending = fetch(ROOT_URL + '/v1/completions', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify(await longBody(false)), signal: ctl.signal,
    }).catch((e) => e);
    await new Promise((r) => setTimeout(r, 500));
    ctl.abort();
    assert.equal((await pending).name, 'AbortError');
    const t0 = Date.now();
    const next = await client().completions.create({ model: await modelId(), prompt: 'The dog', max_tokens: 8 });
    assert.equal(next.choices.length, 1);
    assert.ok(Date.now() - t0 < 8000, `the next request waited ${Date.now() - t0} ms`);
  });

  it('keep-alive: many requests on one connection', async () => {
    const c = client();
    for (let i = 0; i < 20; i++) assert.equal((await c.models.list()).data.length, 1);
  });
});
