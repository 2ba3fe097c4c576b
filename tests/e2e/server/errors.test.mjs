// Every error path, seen through the openai SDK (the right error class, status, code and param) and through
// raw HTTP for what an SDK cannot send: malformed JSON, invalid UTF-8, deep nesting, huge numbers, duplicate
// keys, unknown routes, wrong methods, oversized bodies.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { MAX_BODY, ROOT_URL, client, get, modelId, post } from './common.mjs';

const msgs = [{ role: 'user', content: 'Hi' }];

async function sdkError(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected an error');
}

describe('errors through the SDK', () => {
  const cases = [
    ['temperature out of range', { temperature: 3 }, 'temperature', 'decimal_above_max_value'],
    ['temperature wrong type', { temperature: 'hot' }, 'temperature', 'invalid_type'],
    ['top_p out of range', { top_p: 2 }, 'top_p', 'decimal_above_max_value'],
    ['n below 1', { n: 0 }, 'n', 'integer_below_min_value'],
    ['max_tokens below 1', { max_tokens: 0 }, 'max_tokens', 'integer_below_min_value'],
    ['too many stop strings', { stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', 'array_above_max_length'],
    ['top_logprobs out of range', { logprobs: true, top_logprobs: 25 }, 'top_logprobs', 'integer_above_max_value'],
    ['logit_bias with a bad token', { logit_bias: { nope: 1 } }, 'logit_bias', 'invalid_value'],
    ['bad role', { messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role', 'invalid_value'],
    ['empty messages', { messages: [] }, 'messages', 'empty_array'],
    ['built-in tools are not supported', { tools: [{ type: 'web_search' }] }, 'tools[0].type', 'unsupported_value'],
    ['tool_choice required without tools', { tool_choice: 'required' }, 'tool_choice', 'invalid_value'],
    ['an unknown response_format', { response_format: { type: 'xml' } }, 'response_format.type', 'invalid_value'],
    ['a schema keyword outside the subset',
      { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', not: {} } } } },
      'response_format.json_schema.schema', 'unsupported_value'],
    ['images are not supported',
      { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x/y.png' } }] }] },
      'messages[0].content[0].type', 'unsupported_value'],
    ['context exceeded', { max_tokens: 1000000 }, 'messages', 'context_length_exceeded'],
  ];
  for (const [name, extra, param, code] of cases) {
    it(`400 ${name}`, async () => {
      const e = await sdkError(async () =>
        client().chat.completions.create({ model: await modelId(), messages: msgs, ...extra }));
      assert.ok(e instanceof OpenAI.BadRequestError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 400);
      assert.equal(e.param, param);
      assert.equal(e.code, code);
      assert.equal(e.type, 'invalid_request_error');
      assert.ok(e.headers.get('x-request-id'));
    });
  }

  it('400 for a legacy prompt that does not fit the context', async () => {
    const e = await sdkError(async () =>
      client().completions.create({ model: await modelId(), prompt: 'hello '.repeat(3000), max_tokens: 5 }));
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.code, 'context_length_exceeded');
    assert.equal(e.param, 'prompt');
  });

  it('404 model_not_found for an unknown model', async () => {
    const e = await sdkError(() => client().chat.completions.create({ model: 'gpt-404', messages: msgs }));
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(e.code, 'model_not_found');
    const e2 = await sdkError(() => client().models.retrieve('gpt-404'));
    assert.ok(e2 instanceof OpenAI.NotFoundError);
  });

  it('an error inside a stream reaches the SDK as an APIError', async () => {
    // the SDK turns an SSE `error` event into an exception; here the stream itself is refused before it starts
    const e = await sdkError(async () => {
      const s = await client().chat.completions.create({ model: await modelId(), messages: msgs, stream: true, n: 0 });
      for await (const _ of s) { /* drain */ }
    });
    assert.ok(e instanceof OpenAI.BadRequestError);
  });
});

describe('errors in raw HTTP', () => {
  it('malformed JSON', async () => {
    const r = await post('/v1/chat/completions', '{"model": ', { raw: true });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.type, 'invalid_request_error');
    assert.equal(r.json.error.param, null);
  });

  it('invalid UTF-8, NUL escapes, deep nesting, huge numbers, duplicate keys: 400, and the server stays up', async () => {
    const model = await modelId();
    const bodies = [
      Buffer.concat([Buffer.from(`{"model":"${model}","messages":[{"role":"user","content":"`), Buffer.from([0xff, 0xfe]),
        Buffer.from('"}]}')]),
      `{"model":"${model}","messages":[{"role":"user","content":"a\\u0000b"}]}`,
      `{"model":"${model}","messages":${'['.repeat(5000)}${']'.repeat(5000)}}`,
      `{"model":"${model}","messages":[{"role":"user","content":"x"}],"temperature":1e999}`,
      `{"model":"${model}","model":"${model}","messages":[{"role":"user","content":"x"}]}`,
      `{"model":"${model}","messages":[{"role":"user","content":"x"}],"max_tokens":1e300}`,
    ];
    for (const b of bodies) {
      const r = await post('/v1/chat/completions', b, { raw: true });
      assert.equal(r.status, 400, `${String(b).slice(0, 60)} -> ${r.text}`);
      assert.equal(r.json.error.type, 'invalid_request_error');
    }
    assert.equal((await get('/health')).status, 200);
  });

  it('404 for unknown routes, 405 with Allow for wrong methods', async () => {
    const r = await get('/v1/unknown');
    assert.equal(r.status, 404);
    assert.equal(r.json.error.type, 'invalid_request_error');
    const m = await get('/v1/chat/completions');
    assert.equal(m.status, 405);
    assert.equal(m.headers.get('allow'), 'POST');
    const e = await sdkError(() => client().get('/chat/completions'));
    assert.ok(e instanceof OpenAI.APIError);
    assert.equal(e.status, 405);
  });

  it('413 past the body limit', { skip: MAX_BODY ? false : 'CINDER_MAX_BODY not set' }, async () => {
    const big = JSON.stringify({ model: await modelId(), prompt: 'x'.repeat(MAX_BODY + 10) });
    const r = await post('/v1/completions', big, { raw: true });
    assert.equal(r.status, 413);
    assert.equal(r.json.error.code, 'request_too_large');
    const e = await sdkError(async () => client().completions.create({ model: await modelId(), prompt: 'x'.repeat(MAX_BODY) }));
    assert.ok(e instanceof OpenAI.APIError);
    assert.equal(e.status, 413);
    // a chunked upload without Content-Length is counted as it arrives
    const res = await fetch(ROOT_URL + '/v1/completions', {
      method: 'POST', headers: { 'content-type': 'application/json' }, duplex: 'half',
      body: new ReadableStream({
        start(ctl) {
          ctl.enqueue(new TextEncoder().encode(big));
          ctl.close();
        },
      }),
    });
    assert.equal(res.status, 413);
    await res.text();
  });
});
