// Prompt scoring through /v1/completions with the official openai SDK, as evaluation harnesses ask for it
// (lm-evaluation-harness's local-completions: echo + logprobs + max_tokens 0): the prompt's own tokens with their
// logprobs (null for the first), top alternatives, offsets into the echoed text; echo + logprobs with a
// completion (prompt entries, then the generated ones, equal to a plain greedy completion); the same streamed;
// and usage.prompt_tokens_details.cached_tokens when a prompt's start was served from the prefix cache.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { client, modelId } from './common.mjs';

const PROMPT = 'Once upon a time, there was a little girl named Lily.';

describe('prompt scoring (legacy completions)', () => {
  it('echo + logprobs + max_tokens 0 scores every prompt token', async () => {
    const c = client();
    const res = await c.completions.create({ model: await modelId(), prompt: PROMPT, echo: true, logprobs: 2,
                                             max_tokens: 0 });
    const ch = res.choices[0];
    assert.equal(ch.text, PROMPT);
    assert.equal(ch.finish_reason, 'length');
    assert.equal(res.usage.completion_tokens, 0);
    const lp = ch.logprobs;
    const n = res.usage.prompt_tokens;
    assert.ok(n > 5);
    assert.equal(lp.tokens.length, n);
    assert.equal(lp.token_logprobs.length, n);
    assert.equal(lp.top_logprobs.length, n);
    assert.equal(lp.text_offset.length, n);
    assert.equal(lp.token_logprobs[0], null);
    assert.equal(lp.top_logprobs[0], null);
    for (let i = 1; i < n; i++) {
      assert.equal(typeof lp.token_logprobs[i], 'number');
      assert.ok(lp.token_logprobs[i] <= 0 && lp.token_logprobs[i] > -50, `token ${i}: ${lp.token_logprobs[i]}`);
      const alts = Object.values(lp.top_logprobs[i]);
      assert.ok(alts.length >= 1 && alts.length <= 2);
      /* the best alternative is at least as likely as the prompt's own token */
      assert.ok(Math.max(...alts) >= lp.token_logprobs[i] - 1e-5);
      assert.ok(lp.text_offset[i] >= lp.text_offset[i - 1] && lp.text_offset[i] <= PROMPT.length);
    }
    /* the pieces laid at their offsets spell the prompt (the first word's added space aside) */
    assert.equal(lp.tokens.join('').trim(), PROMPT);
  });

  it('echo + logprobs + max_tokens N: prompt entries, then the greedy completion', async () => {
    const c = client();
    const model = await modelId();
    const plain = await c.completions.create({ model, prompt: PROMPT, max_tokens: 8, temperature: 0, logprobs: 1 });
    const res = await c.completions.create({ model, prompt: PROMPT, max_tokens: 8, temperature: 0, logprobs: 1,
                                             echo: true });
    const n = res.usage.prompt_tokens, k = plain.usage.completion_tokens;
    assert.equal(res.choices[0].text, PROMPT + plain.choices[0].text);
    const lp = res.choices[0].logprobs, pl = plain.choices[0].logprobs;
    assert.equal(lp.tokens.length, n + k);
    assert.deepEqual(lp.tokens.slice(n), pl.tokens);
    for (let i = 0; i < k; i++) {
      assert.ok(Math.abs(lp.token_logprobs[n + i] - pl.token_logprobs[i]) < 1e-3);
      assert.equal(lp.text_offset[n + i], PROMPT.length + pl.text_offset[i]);
    }
  });

  it('streams the scored echo first, then the completion', async () => {
    const c = client();
    const model = await modelId();
    const whole = await c.completions.create({ model, prompt: PROMPT, max_tokens: 4, temperature: 0, logprobs: 1,
                                               echo: true });
    const stream = await c.completions.create({ model, prompt: PROMPT, max_tokens: 4, temperature: 0, logprobs: 1,
                                                echo: true, stream: true, stream_options: { include_usage: true } });
    let text = '', tokens = [], lps = [], usage = null, first = null;
    for await (const ch of stream) {
      if (ch.usage) usage = ch.usage;
      if (!ch.choices.length) continue;
      if (first === null) first = ch.choices[0];
      text += ch.choices[0].text;
      if (ch.choices[0].logprobs) {
        tokens.push(...ch.choices[0].logprobs.tokens);
        lps.push(...ch.choices[0].logprobs.token_logprobs);
      }
    }
    assert.equal(first.text, PROMPT);
    assert.equal(first.logprobs.token_logprobs[0], null);
    assert.equal(text, whole.choices[0].text);
    assert.deepEqual(tokens, whole.choices[0].logprobs.tokens);
    assert.equal(lps.length, whole.choices[0].logprobs.token_logprobs.length);
    assert.equal(usage.prompt_tokens, whole.usage.prompt_tokens);
    assert.equal(typeof usage.prompt_tokens_details.cached_tokens, 'number');
  });

  it('max_tokens 0 without echo is a 400', async () => {
    const c = client();
    await assert.rejects(c.completions.create({ model: await modelId(), prompt: PROMPT, max_tokens: 0 }),
                         (e) => e.status === 400 && e.param === 'max_tokens');
  });

  it('usage.prompt_tokens_details.cached_tokens counts prefix-cache hits', async () => {
    const c = client();
    const model = await modelId();
    const system = 'You are a storyteller. ' + 'Tell short, happy stories about a little girl named Lily. '.repeat(4);
    const ask = () => c.chat.completions.create({ model, max_tokens: 2, temperature: 0, messages: [
      { role: 'system', content: system }, { role: 'user', content: 'A story about a ball.' }] });
    await ask();
    const again = await ask();
    const cached = again.usage.prompt_tokens_details.cached_tokens;
    assert.ok(cached > 0 && cached % 16 === 0 && cached < again.usage.prompt_tokens, `cached ${cached}`);
  });
});
