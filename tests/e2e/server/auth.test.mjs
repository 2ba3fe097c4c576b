// API keys (a server started with --api-key): the SDK's AuthenticationError without or with a wrong key,
// success with the right one, /health open to all.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { AUTH_BASE_URL, AUTH_KEY } from './common.mjs';

const skip = AUTH_BASE_URL && AUTH_KEY ? false : 'CINDER_AUTH_BASE_URL / CINDER_AUTH_KEY not set';
const mk = (apiKey) => new OpenAI({ baseURL: AUTH_BASE_URL, apiKey, maxRetries: 0 });

describe('authentication', { skip }, () => {
  it('a wrong key is refused with invalid_api_key', async () => {
    for (const key of ['wrong', AUTH_KEY + 'x', AUTH_KEY.slice(0, -1)]) {
      await assert.rejects(mk(key).models.list(), (e) => {
        assert.ok(e instanceof OpenAI.AuthenticationError);
        assert.equal(e.status, 401);
        assert.equal(e.code, 'invalid_api_key');
        return true;
      });
    }
  });

  it('no key is refused', async () => {
    const r = await fetch(AUTH_BASE_URL + '/models');
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error.code, 'invalid_api_key');
    const c = await fetch(AUTH_BASE_URL + '/chat/completions', { method: 'POST', body: '{}' });
    assert.equal(c.status, 401);
    await c.text();
  });

  it('the right key works; /health needs none', async () => {
    const c = mk(AUTH_KEY);
    const list = await c.models.list();
    const res = await c.chat.completions.create({ model: list.data[0].id, messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 3 });
    assert.equal(res.object, 'chat.completion');
    const h = await fetch(AUTH_BASE_URL.replace(/\/v1$/, '') + '/health');
    assert.equal(h.status, 200);
  });
});
