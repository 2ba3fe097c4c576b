// The Responses API through the openai SDK: responses.create, responses.stream (the semantic events in order),
// retrieve, inputItems.list, delete, previous_response_id (also across a restart of a server this suite starts
// itself, when CINDER_BIN and CINDER_MODEL_PATH are set), text.format json_schema, logprobs, and the refusals.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import OpenAI from 'openai';
import { client, modelId } from './common.mjs';

const EXPECTED = [
  'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
  'response.output_text.delta', 'response.output_text.done', 'response.content_part.done',
  'response.output_item.done',
];

describe('responses', () => {
  it('create: a response object in OpenAI\'s shape, stored and retrievable', async () => {
    const c = client();
    const r = await c.responses.create({
      model: await modelId(), instructions: 'Tell a story.', input: 'Once upon a time', max_output_tokens: 24,
      temperature: 0, metadata: { run: 'e2e' }, user: 'u1',
    });
    assert.match(r.id, /^resp_/);
    assert.equal(r.object, 'response');
    assert.ok(['completed', 'incomplete'].includes(r.status));
    if (r.status === 'incomplete') assert.equal(r.incomplete_details.reason, 'max_output_tokens');
    assert.equal(r.output.length, 1);
    assert.equal(r.output[0].type, 'message');
    assert.equal(r.output[0].content[0].type, 'output_text');
    assert.ok(r.output_text.length > 0); // the SDK joins the output_text parts
    assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0 && r.usage.output_tokens <= 24);
    assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
    assert.equal(typeof r.usage.input_tokens_details.cached_tokens, 'number');
    assert.equal(r.usage.output_tokens_details.reasoning_tokens, 0);
    assert.equal(r.instructions, 'Tell a story.');
    assert.deepEqual(r.metadata, { run: 'e2e' });
    assert.equal(r.temperature, 0);
    assert.equal(r.store, true);
    assert.equal(r.user, 'u1');
    assert.deepEqual(r.output[0].content[0].logprobs, []); // not asked for

    const got = await c.responses.retrieve(r.id);
    assert.deepEqual(got, r);
    const items = await c.responses.inputItems.list(r.id);
    assert.equal(items.data.length, 1);
    assert.equal(items.data[0].role, 'user');
    assert.equal(items.data[0].content[0].text, 'Once upon a time');

    await c.responses.delete(r.id);
    await assert.rejects(c.responses.retrieve(r.id), (e) => e instanceof OpenAI.NotFoundError);
    await assert.rejects(c.responses.delete(r.id), (e) => e.status === 404);
  });

  it('stream: the semantic events in order, increasing sequence numbers, the final response stored', async () => {
    const c = client();
    const stream = c.responses.stream({ model: await modelId(), input: 'Lily went to the park', max_output_tokens: 16 });
    const types = [];
    let text = '', seq = -1;
    for await (const ev of stream) {
      assert.equal(ev.sequence_number, seq + 1);
      seq = ev.sequence_number;
      if (types[types.length - 1] !== ev.type) types.push(ev.type);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
    }
    const final = await stream.finalResponse();
    assert.deepEqual(types, [...EXPECTED, final.status === 'completed' ? 'response.completed' : 'response.incomplete']);
    assert.equal(final.output_text, text);
    const got = await c.responses.retrieve(final.id); // the stream's helper adds `parsed` to its parts
    assert.equal(got.output_text, final.output_text);
    assert.equal(got.output[0].id, final.output[0].id);
    assert.equal(got.status, final.status);
  });

  it('previous_response_id continues the stored conversation; instructions are not carried', async () => {
    const c = client();
    const model = await modelId();
    const a = await c.responses.create({ model, input: 'Tom had a red ball.', max_output_tokens: 8, temperature: 0 });
    const b = await c.responses.create({
      model, previous_response_id: a.id, input: 'Then', max_output_tokens: 8, temperature: 0,
    });
    assert.equal(b.previous_response_id, a.id);
    assert.ok(b.usage.input_tokens > a.usage.input_tokens);
    // the stored conversation is the same prompt prefix: the prefix cache still holds it (whole 16-token blocks)
    assert.ok(b.usage.input_tokens_details.cached_tokens >= 16, JSON.stringify(b.usage));
    const list = await c.responses.inputItems.list(b.id, { order: 'asc' });
    assert.deepEqual(list.data.map((i) => i.content[0].text), ['Then']);
    await assert.rejects(
      c.responses.create({ model, previous_response_id: 'resp_missing', input: 'x' }),
      (e) => e.status === 400 && e.code === 'previous_response_not_found',
    );
  });

  it('include message.output_text.logprobs: one entry per generated token, with top_logprobs alternatives', async () => {
    const r = await client().responses.create({
      model: await modelId(), input: 'Once upon a time', max_output_tokens: 8, temperature: 0, store: false,
      include: ['message.output_text.logprobs'], top_logprobs: 2,
    });
    const part = r.output[0].content[0];
    assert.equal(part.logprobs.length, r.usage.output_tokens);
    assert.equal(part.logprobs.map((e) => Buffer.from(e.bytes).toString('latin1')).join(''),
                 Buffer.from(part.text, 'utf8').toString('latin1'));
    for (const e of part.logprobs) {
      assert.ok(e.logprob <= 0);
      assert.equal(e.top_logprobs.length, 2);
      assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
      assert.ok(Math.abs(e.logprob - e.top_logprobs[0].logprob) < 1e-5); // greedy: the most likely token
    }
  });

  it('the other endpoints\' output-changing fields are a 400 naming the Responses field', async () => {
    const model = await modelId();
    await assert.rejects(client().responses.create({ model, input: 'x', max_tokens: 4 }),
      (e) => e.status === 400 && e.param === 'max_tokens' && /max_output_tokens/.test(e.message));
    await assert.rejects(client().responses.create({ model, input: 'x', response_format: { type: 'json_object' } }),
      (e) => e.status === 400 && e.param === 'response_format' && /text\.format/.test(e.message));
  });

  it('text.format json_schema gives JSON that validates', async () => {
    const r = await client().responses.create({
      model: await modelId(), input: 'A person', max_output_tokens: 200, store: false,
      text: {
        format: {
          type: 'json_schema', name: 'person', strict: true,
          schema: {
            type: 'object', additionalProperties: false, required: ['age'],
            properties: { age: { type: 'integer', minimum: 0, maximum: 99 } },
          },
        },
      },
    });
    assert.equal(r.status, 'completed');
    const v = JSON.parse(r.output_text);
    assert.ok(Number.isInteger(v.age) && v.age >= 0 && v.age <= 99);
    assert.equal(r.store, false);
    await assert.rejects(client().responses.retrieve(r.id), (e) => e.status === 404);
  });

  it('refuses built-in tools (naming them); function tools are served (tests/e2e/tools/responses.test.mjs)', async () => {
    const model = await modelId();
    await assert.rejects(
      client().responses.create({ model, input: 'x', tools: [{ type: 'web_search' }] }),
      (e) => e.status === 400 && /web_search/.test(e.message) && e.param === 'tools[0]',
    );
    await assert.rejects(
      client().responses.create({ model, input: 'x', tool_choice: { type: 'function', name: 'nope' },
        tools: [{ type: 'function', name: 'f', parameters: {}, strict: false }] }),
      (e) => e.status === 400 && e.param === 'tool_choice.name',
    );
  });
});

// A server of our own: stop it, start it again on the same store, and continue the chain.
const BIN = process.env.CINDER_BIN, MODEL = process.env.CINDER_MODEL_PATH;
describe('responses across a restart', { skip: !BIN || !MODEL ? 'CINDER_BIN / CINDER_MODEL_PATH not set' : false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cinder-resp-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  function start() {
    return new Promise((resolve, reject) => {
      const p = spawn(BIN, ['serve', '--port', '0', '-m', MODEL, '-t', '1', '--responses-store', join(dir, 'r.db')], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      const timer = setTimeout(() => reject(new Error('server did not start')), 20000);
      p.stdout.on('data', async (d) => {
        out += d;
        const m = /listening on (http:\S+)/.exec(out);
        if (!m) return;
        for (let i = 0; i < 200; i++) {
          const h = await fetch(`${m[1]}/health`).catch(() => null);
          if (h && h.status === 200) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        clearTimeout(timer);
        resolve({ p, url: `${m[1]}/v1` });
      });
      p.on('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
  }
  function stop(s) {
    return new Promise((resolve) => { s.p.on('exit', resolve); s.p.kill('SIGTERM'); });
  }

  it('a chain started before the restart continues after it', async () => {
    let s = await start();
    let c = new OpenAI({ baseURL: s.url, apiKey: 'unused', maxRetries: 0 });
    const model = (await c.models.list()).data[0].id;
    const a = await c.responses.create({ model, input: 'The cat sat', max_output_tokens: 6, temperature: 0 });
    await stop(s);
    s = await start();
    c = new OpenAI({ baseURL: s.url, apiKey: 'unused', maxRetries: 0 });
    try {
      assert.deepEqual(await c.responses.retrieve(a.id), a);
      const b = await c.responses.create({ model, previous_response_id: a.id, input: 'and', max_output_tokens: 4 });
      assert.ok(b.usage.input_tokens > a.usage.input_tokens);
      const m = await fetch(s.url.replace(/\/v1$/, '/metrics')).then((r) => r.text());
      assert.match(m, /^cinder_responses_stored_total 1$/m);
    } finally {
      await stop(s);
    }
  });
});
