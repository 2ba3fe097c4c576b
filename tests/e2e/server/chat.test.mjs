// /v1/chat/completions through the official openai SDK: the response and chunk shapes, greedy text equal to
// `cinder generate` on the ChatML prompt, streaming with usage, n, stop, logprobs, content parts, and raw SSE.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chatml, client, generateGreedy, modelId, post, sseEvents } from './common.mjs';

const messages = [
  { role: 'system', content: 'You tell short stories.' },
  { role: 'user', content: 'Tell me about a cat.' },
];

describe('chat completions', () => {
  it('answers in OpenAI\'s shape', async () => {
    const res = await client().chat.completions.create({ model: await modelId(), messages, max_tokens: 16 });
    assert.match(res.id, /^chatcmpl-/);
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.model, await modelId());
    assert.equal(typeof res.created, 'number');
    assert.equal(typeof res.system_fingerprint, 'string');
    assert.equal(res.choices.length, 1);
    const ch = res.choices[0];
    assert.equal(ch.index, 0);
    assert.equal(ch.message.role, 'assistant');
    assert.equal(typeof ch.message.content, 'string');
    assert.equal(ch.logprobs, null);
    assert.ok(['stop', 'length'].includes(ch.finish_reason));
    assert.equal(res.usage.total_tokens, res.usage.prompt_tokens + res.usage.completion_tokens);
    assert.ok(res.usage.completion_tokens <= 16);
  });

  it('greedy text equals cinder generate on the ChatML prompt', async (t) => {
    const gen = generateGreedy(chatml(messages), 40);
    if (gen === null) return t.skip('no cinder binary');
    const res = await client().chat.completions.create({ model: await modelId(), messages, max_tokens: 40, temperature: 0 });
    assert.equal(res.choices[0].message.content, gen);
  });

  it('streams role, content deltas, finish, usage', async () => {
    const c = client();
    const model = await modelId();
    const full = await c.chat.completions.create({ model, messages, max_tokens: 30, temperature: 0 });
    const stream = await c.chat.completions.create({
      model, messages, max_tokens: 30, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const ch of stream) chunks.push(ch);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, full.usage);
    const fin = chunks[chunks.length - 2].choices[0];
    assert.equal(fin.finish_reason, full.choices[0].finish_reason);
    assert.deepEqual(fin.delta, {});
    const text = chunks.map((ch) => ch.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, full.choices[0].message.content);
    for (const ch of chunks) {
      assert.equal(ch.object, 'chat.completion.chunk');
      assert.equal(ch.id, chunks[0].id);
    }
  });

  it('raw SSE: text/event-stream, data frames, [DONE]', async () => {
    const r = await post('/v1/chat/completions', { model: await modelId(), messages, max_tokens: 5, stream: true });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    assert.ok(r.text.endsWith('data: [DONE]\n\n'));
    const evs = sseEvents(r.text);
    assert.equal(evs[evs.length - 1].data, '[DONE]');
    for (const e of evs.slice(0, -1)) {
      assert.equal(e.event, null);
      assert.equal(JSON.parse(e.data).object, 'chat.completion.chunk');
    }
    const content = evs.slice(0, -1).filter((e) => JSON.parse(e.data).choices[0]?.delta?.content);
    assert.ok(content.length >= 1 && content.length <= 5, 'at most one content chunk per token');
  });

  it('n: 2', async () => {
    const res = await client().chat.completions.create({
      model: await modelId(), messages, max_tokens: 8, n: 2, seed: 5, temperature: 1,
    });
    assert.deepEqual(res.choices.map((c) => c.index), [0, 1]);
    assert.ok(res.usage.completion_tokens >= 2 && res.usage.completion_tokens <= 16);
    for (const ch of res.choices) assert.equal(ch.message.role, 'assistant');
  });

  it('stop sequences', async () => {
    const c = client();
    const model = await modelId();
    const full = await c.chat.completions.create({ model, messages, max_tokens: 60, temperature: 0 });
    const text = full.choices[0].message.content;
    const word = text.trim().split(/\s+/)[2];
    assert.ok(word, `the greedy answer has words: ${JSON.stringify(text)}`);
    const res = await c.chat.completions.create({ model, messages, max_tokens: 60, temperature: 0, stop: word });
    assert.equal(res.choices[0].message.content, text.slice(0, text.indexOf(word)));
    assert.equal(res.choices[0].finish_reason, 'stop');
  });

  it('logprobs with top_logprobs', async () => {
    const res = await client().chat.completions.create({
      model: await modelId(), messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3,
    });
    const lp = res.choices[0].logprobs;
    assert.equal(lp.content.length, res.usage.completion_tokens);
    assert.equal(lp.content.map((e) => e.token).join(''), res.choices[0].message.content);
    for (const e of lp.content) {
      assert.ok(e.logprob <= 0);
      assert.deepEqual(e.bytes, [...Buffer.from(e.token)]);
      assert.equal(e.top_logprobs.length, 3);
      assert.equal(e.top_logprobs[0].token, e.token);
      assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
    }
  });

  it('content as text parts, developer and assistant roles', async () => {
    const c = client();
    const model = await modelId();
    const parts = await c.chat.completions.create({
      model, max_tokens: 8, temperature: 0,
      messages: [
        { role: 'developer', content: [{ type: 'text', text: 'Be' }, { type: 'text', text: 'kind.' }] },
        { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }, { role: 'user', content: 'More' },
      ],
    });
    const plain = await c.chat.completions.create({
      model, max_tokens: 8, temperature: 0,
      messages: [
        { role: 'system', content: 'Be\nkind.' },
        { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }, { role: 'user', content: 'More' },
      ],
    });
    assert.equal(parts.choices[0].message.content, plain.choices[0].message.content);
    assert.equal(parts.usage.prompt_tokens, plain.usage.prompt_tokens);
  });
});
