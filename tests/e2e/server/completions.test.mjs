// /v1/completions through the official openai SDK: greedy text equal to llama.cpp's reference and to
// `cinder generate`, streaming, finish reasons, stop sequences, n, logprobs, echo, usage.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { client, generateGreedy, modelId, reference } from './common.mjs';

const ref = reference();
const once = ref.find((r) => r.prompt === 'Once upon a time');

describe('completions', () => {
  it('greedy text equals the reference and cinder generate', { skip: ref.length ? false : 'no reference' }, async () => {
    const c = client();
    const model = await modelId();
    for (const r of ref) {
      const res = await c.completions.create({ model, prompt: r.prompt, max_tokens: r.n_predict, temperature: 0 });
      assert.equal(res.object, 'text_completion');
      assert.match(res.id, /^cmpl-/);
      assert.equal(res.model, model);
      assert.equal(typeof res.created, 'number');
      assert.equal(res.choices.length, 1);
      assert.equal(res.choices[0].index, 0);
      assert.equal(res.choices[0].text, r.content, `prompt ${JSON.stringify(r.prompt)}`);
      assert.equal(res.choices[0].finish_reason, r.stop === 'limit' ? 'length' : 'stop');
      assert.equal(res.usage.prompt_tokens, r.prompt_tokens.length);
      assert.equal(res.usage.completion_tokens, r.tokens.length);
      assert.equal(res.usage.total_tokens, r.prompt_tokens.length + r.tokens.length);
      const gen = generateGreedy(r.prompt, r.n_predict);
      if (gen !== null) assert.equal(res.choices[0].text, gen);
    }
  });

  it('streams the same text, then a usage chunk, then [DONE]', { skip: once ? false : 'no reference' }, async () => {
    const c = client();
    const stream = await c.completions.create({
      model: await modelId(), prompt: once.prompt, max_tokens: once.n_predict, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    });
    let text = '', finish = null, usage = null, chunks = 0, afterUsage = 0;
    for await (const ch of stream) {
      if (usage) afterUsage++;
      chunks++;
      assert.equal(ch.object, 'text_completion');
      if (ch.usage) {
        usage = ch.usage;
        assert.deepEqual(ch.choices, []);
        continue;
      }
      assert.equal(ch.usage, null);
      text += ch.choices[0].text;
      if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
    }
    assert.equal(text, once.content);
    assert.equal(finish, 'length');
    assert.ok(chunks > 10, 'token-by-token chunks');
    assert.equal(afterUsage, 0, 'the usage chunk is the last one');
    const np = once.prompt_tokens.length;
    assert.deepEqual(usage, { prompt_tokens: np, completion_tokens: once.n_predict, total_tokens: np + once.n_predict,
                              prompt_tokens_details: { cached_tokens: 0 } }); /* a prompt shorter than one cache block */
  });

  it('max_tokens ends with finish_reason "length"', async () => {
    const res = await client().completions.create({ model: await modelId(), prompt: 'The dog', max_tokens: 3 });
    assert.equal(res.choices[0].finish_reason, 'length');
    assert.equal(res.usage.completion_tokens, 3);
  });

  it('stop sequences cut the text before the match', { skip: once ? false : 'no reference' }, async () => {
    const c = client();
    const model = await modelId();
    const cut = once.content.indexOf('Lily');
    assert.ok(cut > 0);
    for (const stream of [false, true]) {
      const args = { model, prompt: once.prompt, max_tokens: once.n_predict, temperature: 0, stop: ['zzz', 'Lily'] };
      let text = '', finish;
      if (stream) {
        for await (const ch of await c.completions.create({ ...args, stream: true })) {
          text += ch.choices[0].text;
          finish = ch.choices[0].finish_reason || finish;
        }
      } else {
        const res = await c.completions.create(args);
        text = res.choices[0].text;
        finish = res.choices[0].finish_reason;
        assert.ok(res.usage.completion_tokens < once.n_predict);
      }
      assert.equal(text, once.content.slice(0, cut), `stream=${stream}`);
      assert.equal(finish, 'stop');
    }
  });

  it('n: 2 gives two seeded choices; the same seed gives the same choices', async () => {
    const c = client();
    const args = { model: await modelId(), prompt: 'Once upon a time', max_tokens: 12, temperature: 1, n: 2, seed: 11 };
    const a = await c.completions.create(args);
    const b = await c.completions.create(args);
    assert.deepEqual(a.choices.map((x) => x.index), [0, 1]);
    assert.deepEqual(a.choices.map((x) => x.text), b.choices.map((x) => x.text));
    assert.ok(a.usage.completion_tokens <= 24 && a.usage.completion_tokens >= 2);
    assert.equal(a.usage.prompt_tokens, b.usage.prompt_tokens);
  });

  it('several prompts give prompt-major choices', async () => {
    const res = await client().completions.create({
      model: await modelId(), prompt: ['The cat', 'The dog'], max_tokens: 4, temperature: 0, n: 2,
    });
    assert.equal(res.choices.length, 4);
    assert.deepEqual(res.choices.map((x) => x.index), [0, 1, 2, 3]);
    assert.equal(res.choices[0].text, res.choices[1].text); // greedy: the same per prompt
    assert.equal(res.choices[2].text, res.choices[3].text);
  });

  it('logprobs: tokens, token_logprobs, top_logprobs, text_offset', async () => {
    const res = await client().completions.create({
      model: await modelId(), prompt: 'The cat', max_tokens: 6, temperature: 0, logprobs: 3,
    });
    const ch = res.choices[0], lp = ch.logprobs;
    assert.equal(lp.tokens.length, res.usage.completion_tokens);
    assert.equal(lp.tokens.join(''), ch.text);
    assert.equal(lp.token_logprobs.length, lp.tokens.length);
    assert.equal(lp.top_logprobs.length, lp.tokens.length);
    let off = 0;
    lp.tokens.forEach((t, i) => {
      assert.equal(lp.text_offset[i], off);
      off += Buffer.byteLength(t);
      assert.ok(lp.token_logprobs[i] <= 0);
      const top = Object.entries(lp.top_logprobs[i]);
      assert.ok(top.length >= 1 && top.length <= 3);
      assert.equal(top[0][0], t, 'greedy picks the most likely token');
      assert.equal(top[0][1], lp.token_logprobs[i]);
    });
  });

  it('echo returns the prompt before the completion', async () => {
    const c = client();
    const model = await modelId();
    const plain = await c.completions.create({ model, prompt: 'The cat', max_tokens: 5, temperature: 0 });
    const echo = await c.completions.create({ model, prompt: 'The cat', max_tokens: 5, temperature: 0, echo: true });
    assert.equal(echo.choices[0].text, 'The cat' + plain.choices[0].text);
  });

  it('a prompt of token ids', { skip: once ? false : 'no reference' }, async () => {
    const c = client();
    const model = await modelId();
    const byText = await c.completions.create({ model, prompt: once.prompt, max_tokens: 8, temperature: 0 });
    const byIds = await c.completions.create({ model, prompt: once.prompt_tokens, max_tokens: 8, temperature: 0 });
    assert.equal(byIds.choices[0].text, byText.choices[0].text);
  });
});
