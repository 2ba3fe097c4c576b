// LangChain.js against `cinder serve`: bindTools (forced and biased auto) and withStructuredOutput in both of its
// methods (a forced function call, and response_format json_schema). Random weights; the grammar makes the
// answers valid. Environment: CINDER_TOOLS_URL (see tools.test.mjs).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { webcrypto } from 'node:crypto';
import { z } from 'zod';

// LangChain.js 1.x uses the global Web Crypto object, which Node 18 (Debian 12's) only has on require: install it
// before LangChain loads, as an app on Node 18 would.
if (!globalThis.crypto) globalThis.crypto = webcrypto;
const { ChatOpenAI } = await import('@langchain/openai');
const { tool } = await import('@langchain/core/tools');

const BASE_URL = process.env.CINDER_TOOLS_URL;
if (!BASE_URL) throw new Error('set CINDER_TOOLS_URL');

const Weather = z.object({ city: z.string().regex(/^[A-Za-z ]{1,20}$/), unit: z.enum(['celsius', 'fahrenheit']) });
const getWeather = tool(async ({ city }) => `sunny in ${city}`, {
  name: 'get_weather', description: 'Current weather of a city', schema: Weather,
});
const Person = z.object({ name: z.string().regex(/^[A-Za-z]{1,12}$/), age: z.number().int().min(0).max(120) });

function chat(extra = {}) {
  return new ChatOpenAI({
    model: 'qwen3', apiKey: 'unused', temperature: 0.8, maxTokens: 200, maxRetries: 0,
    configuration: { baseURL: BASE_URL },
    modelKwargs: { chat_template_kwargs: { enable_thinking: false }, seed: 3 }, ...extra,
  });
}

describe('LangChain.js', () => {
  it('bindTools with a forced tool gives tool_calls with parsed, valid args', async () => {
    const m = chat().bindTools([getWeather], { tool_choice: 'get_weather', parallel_tool_calls: false });
    const ai = await m.invoke('What is the weather in Paris?');
    assert.equal(ai.tool_calls.length, 1);
    assert.equal(ai.tool_calls[0].name, 'get_weather');
    Weather.parse(ai.tool_calls[0].args);
    assert.ok(ai.tool_calls[0].id.startsWith('call_'));
    // the tool's answer goes back through the model's template
    const result = await getWeather.invoke(ai.tool_calls[0]);
    const next = await chat().bindTools([getWeather]).invoke([
      { role: 'user', content: 'What is the weather in Paris?' }, ai, result]);
    assert.equal(typeof next.content, 'string');
  });

  it('bindTools streams a forced call as tool_call_chunks that join to valid args', async () => {
    const m = chat().bindTools([getWeather], { tool_choice: 'required' });
    let acc;
    for await (const chunk of await m.stream('Weather in Oslo?')) acc = acc ? acc.concat(chunk) : chunk;
    assert.ok(acc.tool_calls.length >= 1);
    Weather.parse(acc.tool_calls[0].args);
  });

  for (const method of ['functionCalling', 'jsonSchema']) {
    it(`withStructuredOutput (${method}) returns an object the schema accepts`, async () => {
      const m = chat().withStructuredOutput(Person, { method, name: 'person' });
      const p = await m.invoke('Tell me about a person.');
      assert.deepEqual(Person.parse(p), p);
    });
  }
});
