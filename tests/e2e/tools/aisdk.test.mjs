// The Vercel AI SDK (ai 6.x, @ai-sdk/openai's chat-completions provider) against `cinder serve`: generateObject
// with a zod schema, generateText and streamText with a forced tool. Random weights; the grammar makes the answers
// valid. Environment: CINDER_TOOLS_URL (see tools.test.mjs).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createOpenAI } from '@ai-sdk/openai';
import { generateObject, generateText, streamText, tool } from 'ai';
import { z } from 'zod';

const BASE_URL = process.env.CINDER_TOOLS_URL;
if (!BASE_URL) throw new Error('set CINDER_TOOLS_URL');
const openai = createOpenAI({ baseURL: BASE_URL, apiKey: 'unused' });
const model = openai.chat('qwen3');
const provider = { openai: { parallelToolCalls: false } };

const Person = z.object({ name: z.string().regex(/^[A-Za-z]{1,12}$/), age: z.number().int().min(0).max(120) });
const Weather = z.object({ city: z.string().regex(/^[A-Za-z ]{1,20}$/), unit: z.enum(['celsius', 'fahrenheit']) });

describe('Vercel AI SDK', () => {
  it('generateObject returns an object the schema accepts', async () => {
    const { object, finishReason } = await generateObject({
      model, schema: Person, prompt: 'Describe a person.', temperature: 0.8, seed: 4, maxRetries: 0,
      maxOutputTokens: 200,
    });
    assert.equal(finishReason, 'stop');
    assert.deepEqual(Person.parse(object), object);
  });

  it('generateText with a forced tool: a valid call that the SDK executes', async () => {
    let ran = 0;
    const r = await generateText({
      model, prompt: 'Weather in Rome?', maxRetries: 0, temperature: 1, seed: 9, maxOutputTokens: 200,
      tools: { get_weather: tool({ description: 'weather', inputSchema: Weather, execute: async (a) => { ran++; return `sunny in ${a.city}`; } }) },
      toolChoice: { type: 'tool', toolName: 'get_weather' }, providerOptions: provider,
    });
    assert.equal(r.finishReason, 'tool-calls');
    assert.equal(r.toolCalls.length >= 1, true);
    Weather.parse(r.toolCalls[0].input);
    assert.equal(ran, r.toolCalls.length);
  });

  it('streamText with a forced tool streams the call', async () => {
    const r = streamText({
      model, prompt: 'Weather in Rome?', maxRetries: 0, temperature: 1, seed: 10, maxOutputTokens: 200,
      tools: { get_weather: tool({ description: 'weather', inputSchema: Weather }) },
      toolChoice: 'required', providerOptions: provider,
    });
    const calls = [];
    for await (const part of r.fullStream) if (part.type === 'tool-call') calls.push(part);
    assert.ok(calls.length >= 1);
    Weather.parse(calls[0].input);
  });
});
