// Structured outputs through the openai SDK: `chat.completions.parse` with a zod schema, `json_object`, streaming
// and legacy completions. The model (stories260K) knows no JSON; the grammar makes every answer parse and validate
// anyway, which is the point.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { client, modelId } from './common.mjs';

const Person = z.object({
  name: z.string().max(12),
  age: z.number().int().min(0).max(120),
  pets: z.array(z.enum(['cat', 'dog', 'fish'])).max(3),
});
const msgs = [{ role: 'user', content: 'Once upon a time, a girl named Lily' }];

describe('structured outputs', () => {
  it('parse() with a zod schema returns a valid object (greedy and sampled)', async () => {
    for (const temperature of [0, 1, 1.5]) {
      const r = await client().chat.completions.parse({
        model: await modelId(), messages: msgs, temperature, seed: 7, max_tokens: 400,
        response_format: zodResponseFormat(Person, 'person'),
      });
      const m = r.choices[0].message;
      assert.equal(r.choices[0].finish_reason, 'stop', m.content);
      assert.equal(m.refusal, null);
      assert.deepEqual(Person.parse(JSON.parse(m.content)), m.parsed);
      assert.ok(m.parsed.name.length <= 12 && Number.isInteger(m.parsed.age));
    }
  });

  it('json_object gives a JSON object', async () => {
    const r = await client().chat.completions.create({
      model: await modelId(), messages: msgs, max_tokens: 400, temperature: 0.8, seed: 3, n: 2,
      response_format: { type: 'json_object' },
    });
    for (const c of r.choices) {
      if (c.finish_reason === 'length') continue; // an object may be longer than the budget; the prefix is still JSON-shaped
      const v = JSON.parse(c.message.content);
      assert.equal(typeof v, 'object');
      assert.ok(v !== null && !Array.isArray(v));
    }
  });

  it('a stream of a json_schema answer joins to a valid document', async () => {
    const stream = await client().chat.completions.create({
      model: await modelId(), messages: msgs, max_tokens: 400, temperature: 0, stream: true,
      response_format: zodResponseFormat(Person, 'person'),
    });
    let text = '', finish = null;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    assert.equal(finish, 'stop');
    Person.parse(JSON.parse(text));
  });

  it('max_tokens inside the document ends with finish_reason length', async () => {
    const r = await client().chat.completions.create({
      model: await modelId(), messages: msgs, max_tokens: 3, temperature: 0,
      response_format: zodResponseFormat(Person, 'person'),
    });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.ok(r.choices[0].message.content.startsWith('{'));
  });

  it('legacy completions take response_format too (an extension)', async () => {
    const r = await client().completions.create({
      model: await modelId(), prompt: 'Once upon a time', max_tokens: 400, temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'object',
        properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false } } },
    });
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(typeof JSON.parse(r.choices[0].text).n, 'number');
  });
});
