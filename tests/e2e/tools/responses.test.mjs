// The Responses API's function tools with real clients: the openai SDK (responses.create, responses.stream,
// previous_response_id with a function_call_output) and the OpenAI Agents SDK running an agent with one function
// tool to completion. Random weights: the first turn's call is forced (tool_choice required, which the Agents SDK
// resets to auto after a call, as it does by default); the grammar makes the call valid.
// Environment: CINDER_TOOLS_URL (see tools.test.mjs; the server has a responses store).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { z } from 'zod';

const BASE_URL = process.env.CINDER_TOOLS_URL;
if (!BASE_URL) throw new Error('set CINDER_TOOLS_URL');
const client = new OpenAI({ baseURL: BASE_URL, apiKey: 'unused', maxRetries: 0, timeout: 120000 });

const Weather = z.object({ city: z.string().regex(/^[A-Za-z ]{1,20}$/) });
const weather = {
  type: 'function', name: 'get_weather', description: 'Current weather of a city', strict: true,
  parameters: {
    type: 'object', additionalProperties: false, required: ['city'],
    properties: { city: { type: 'string', pattern: '^[A-Za-z ]{1,20}$' } },
  },
};
const base = { model: 'qwen3', tools: [weather], parallel_tool_calls: false, max_output_tokens: 120, temperature: 1 };

describe('Responses API function tools', () => {
  it('responses.create: a forced call is a valid function_call item; its output continues the conversation', async () => {
    const r = await client.responses.create({ ...base, input: 'Weather in Oslo?', tool_choice: 'required' });
    assert.equal(r.status, 'completed', JSON.stringify(r.output));
    assert.equal(r.output.length, 1);
    const fc = r.output[0];
    assert.equal(fc.type, 'function_call');
    assert.equal(fc.name, 'get_weather');
    assert.match(fc.id, /^fc_/);
    assert.match(fc.call_id, /^call_/);
    Weather.parse(JSON.parse(fc.arguments));
    const next = await client.responses.create({
      ...base, previous_response_id: r.id, max_output_tokens: 8,
      input: [{ type: 'function_call_output', call_id: fc.call_id, output: '{"temp_c": 21}' }],
    });
    assert.ok(['completed', 'incomplete'].includes(next.status));
    const items = await client.responses.inputItems.list(next.id);
    assert.equal(items.data[0].type, 'function_call_output');
  });

  it('responses.stream: function_call events join to the final arguments', async () => {
    const stream = client.responses.stream({
      ...base, input: 'Weather?', tool_choice: { type: 'function', name: 'get_weather' }, store: false,
    });
    const types = [];
    let args = '';
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'response.function_call_arguments.delta') args += ev.delta;
    }
    const final = await stream.finalResponse();
    const fc = final.output.find((o) => o.type === 'function_call');
    assert.equal(args, fc.arguments);
    Weather.parse(JSON.parse(fc.arguments));
    const want = ['response.created', 'response.in_progress', 'response.output_item.added'];
    assert.deepEqual(types.slice(0, 3), want);
    assert.ok(types.indexOf('response.function_call_arguments.done') < types.indexOf('response.output_item.done'));
    assert.equal(types.at(-1), 'response.completed');
  });

  it('the OpenAI Agents SDK runs an agent with one function tool to completion', async () => {
    const { Agent, run, tool, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled } = await import('@openai/agents');
    setTracingDisabled(true);
    setDefaultOpenAIClient(client);
    setOpenAIAPI('responses');
    let calls = 0;
    const getWeather = tool({
      name: 'get_weather', description: 'Current weather of a city', parameters: Weather,
      execute: async ({ city }) => { calls++; return `sunny in ${city}`; },
    });
    const agent = new Agent({
      name: 'weather', instructions: 'Answer with the weather.', model: 'qwen3', tools: [getWeather],
      modelSettings: { toolChoice: 'required', maxTokens: 60, temperature: 0.7, parallelToolCalls: false },
    });
    const result = await run(agent, 'What is the weather in Paris?', { maxTurns: 4 });
    assert.equal(calls, 1);
    assert.equal(typeof result.finalOutput, 'string');
  });
});
