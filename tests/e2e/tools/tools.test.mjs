// Tool calling with real clients against `cinder serve` on models with random weights and real tokenizers and
// chat templates (Qwen3 and Llama 3.1 made by synth_gguf.py --donor). The weights choose nothing sensible; the
// grammar makes every call valid anyway, which is the point. `auto` is exercised by biasing the family's opener
// token with logit_bias, as a model that wants to call would.
// Environment: CINDER_TOOLS_URL (a server ending in /v1 serving the models "qwen3", "llama31", "gemma3" (Gemma: no tool format, the generic fallback) and "gptoss"
// (harmony)).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';

const BASE_URL = process.env.CINDER_TOOLS_URL;
if (!BASE_URL) throw new Error('set CINDER_TOOLS_URL');
const client = new OpenAI({ baseURL: BASE_URL, apiKey: 'unused', maxRetries: 0, timeout: 120000 });

const Weather = z.object({ city: z.string().regex(/^[A-Za-z ]{1,20}$/), unit: z.enum(['celsius', 'fahrenheit']) });
const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather', description: 'Current weather of a city', strict: true,
    parameters: {
      type: 'object', additionalProperties: false, required: ['city', 'unit'],
      properties: { city: { type: 'string', pattern: '^[A-Za-z ]{1,20}$' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
    },
  },
};
const timeTool = {
  type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {}, additionalProperties: false } },
};
const msgs = [{ role: 'user', content: 'What is the weather in Paris?' }];
const QWEN_OPENER = 151657; // <tool_call> in Qwen3's vocabulary
const QWEN_BRACE = 90; // {

function checkCall(tc, names) {
  assert.equal(tc.type, 'function');
  assert.match(tc.id, /^call_[A-Za-z0-9]{24}$/);
  assert.ok(names.includes(tc.function.name), tc.function.name);
  const args = JSON.parse(tc.function.arguments);
  if (tc.function.name === 'get_weather') Weather.parse(args);
  else assert.deepEqual(args, {});
}

describe('tool calls through the openai SDK', () => {
  for (const model of ['qwen3', 'llama31', 'gemma3', 'gptoss']) {
    it(`${model}: tool_choice required gives valid calls, finish_reason tool_calls`, async () => {
      for (const seed of [1, 2, 3]) {
        const r = await client.chat.completions.create({
          model, messages: msgs, tools: [weatherTool, timeTool], tool_choice: 'required', temperature: 1, seed,
          max_tokens: 200, chat_template_kwargs: { enable_thinking: false }, parallel_tool_calls: false,
        });
        const c = r.choices[0];
        assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c.message));
        assert.equal(c.message.tool_calls.length, 1);
        for (const tc of c.message.tool_calls) checkCall(tc, ['get_weather', 'get_time']);
      }
    });

    it(`${model}: a named tool_choice calls that tool; parse() fills parsed_arguments`, async () => {
      const r = await client.chat.completions.parse({
        model, messages: msgs, temperature: 0.7, seed: 5, max_tokens: 200, parallel_tool_calls: false,
        tools: [zodFunction({ name: 'get_weather', parameters: Weather }),
          zodFunction({ name: 'get_time', parameters: z.object({}) })],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
      });
      const tc = r.choices[0].message.tool_calls[0];
      assert.equal(tc.function.name, 'get_weather');
      assert.deepEqual(tc.function.parsed_arguments, Weather.parse(JSON.parse(tc.function.arguments)));
    });
  }

  it('qwen3: auto with the opener biased yields a valid call; parallel_tool_calls false gives one', async () => {
    const r = await client.chat.completions.create({
      model: 'qwen3', messages: msgs, tools: [weatherTool, timeTool], parallel_tool_calls: false,
      logit_bias: { [QWEN_OPENER]: 100 }, temperature: 1, seed: 11, max_tokens: 200,
    });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c.message));
    assert.equal(c.message.tool_calls.length, 1);
    checkCall(c.message.tool_calls[0], ['get_weather', 'get_time']);
  });

  it('qwen3: tools beside response_format: the opener biased gives a call, "{" biased the parsed document', async () => {
    const Answer = z.object({ summary: z.string().max(40), sunny: z.boolean() });
    const req = {
      model: 'qwen3', messages: msgs, tools: [zodFunction({ name: 'get_weather', parameters: Weather })],
      response_format: zodResponseFormat(Answer, 'answer'), temperature: 1, seed: 4, max_tokens: 300,
      chat_template_kwargs: { enable_thinking: false }, parallel_tool_calls: false,
    };
    const called = await client.chat.completions.parse({ ...req, logit_bias: { [QWEN_OPENER]: 100 } });
    assert.equal(called.choices[0].finish_reason, 'tool_calls', JSON.stringify(called.choices[0].message));
    assert.deepEqual(called.choices[0].message.tool_calls[0].function.parsed_arguments,
      Weather.parse(JSON.parse(called.choices[0].message.tool_calls[0].function.arguments)));
    // the opener can be spelled by smaller tokens too: the document is chosen by biasing its first token, "{"
    const answered = await client.chat.completions.parse({ ...req, logit_bias: { [QWEN_BRACE]: 100 } });
    const m = answered.choices[0].message;
    assert.equal(answered.choices[0].finish_reason, 'stop', JSON.stringify(m));
    assert.equal(m.tool_calls?.length ?? 0, 0);
    assert.deepEqual(m.parsed, Answer.parse(JSON.parse(m.content)));
  });

  it('qwen3: auto without a bias answers in text, with no call markers in the content', async () => {
    const r = await client.chat.completions.create({
      model: 'qwen3', messages: msgs, tools: [weatherTool], temperature: 0, max_tokens: 30,
      chat_template_kwargs: { enable_thinking: false },
    });
    const c = r.choices[0];
    assert.ok(['stop', 'length'].includes(c.finish_reason));
    assert.equal(c.message.tool_calls, undefined);
    assert.ok(!String(c.message.content).includes('<tool_call>'));
  });

  it('streamed tool calls join to the non-streamed arguments (same seed)', async () => {
    const req = {
      model: 'qwen3', messages: msgs, tools: [weatherTool, timeTool], tool_choice: 'required', temperature: 1,
      seed: 21, max_tokens: 400, chat_template_kwargs: { enable_thinking: false },
    };
    const whole = await client.chat.completions.create(req);
    const stream = await client.chat.completions.create({ ...req, stream: true });
    const calls = [];
    let finish = null, content = '';
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (!c) continue;
      content += c.delta.content ?? '';
      for (const d of c.delta.tool_calls ?? []) {
        if (d.id) {
          assert.equal(d.index, calls.length);
          assert.equal(d.type, 'function');
          assert.equal(d.function.arguments, '');
          calls.push({ id: d.id, name: d.function.name, args: '' });
        } else {
          assert.equal(d.function.name, undefined); // a name is never sent in pieces
          calls[d.index].args += d.function.arguments;
        }
      }
      if (c.finish_reason) finish = c.finish_reason;
    }
    // random weights may go on calling until max_tokens; what was streamed must equal what was answered whole
    assert.equal(finish, whole.choices[0].finish_reason);
    assert.ok(['tool_calls', 'length'].includes(finish));
    assert.equal(content, '');
    const want = whole.choices[0].message.tool_calls;
    for (const tc of want.slice(0, finish === 'length' ? -1 : undefined)) checkCall(tc, ['get_weather', 'get_time']);
    assert.equal(calls.length, want.length);
    calls.forEach((c, i) => {
      assert.equal(c.name, want[i].function.name);
      assert.equal(c.args, want[i].function.arguments);
    });
  });

  it('runTools() runs a named tool and sends its result back through the template', async () => {
    let called = 0;
    const runner = client.chat.completions.runTools({
      model: 'qwen3', messages: msgs, max_tokens: 200, temperature: 0, parallel_tool_calls: false,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      tools: [{
        type: 'function',
        function: {
          name: 'get_weather', parameters: weatherTool.function.parameters,
          function: (args) => { called++; Weather.parse(args); return { temperature: 21 }; },
          parse: JSON.parse,
        },
      }],
    });
    const final = await runner.finalChatCompletion();
    assert.equal(called, 1);
    const roles = runner.messages.map((m) => m.role);
    assert.deepEqual(roles.slice(-2), ['assistant', 'tool']);
    assert.ok(final.choices[0].message);
    // the history with the call and its result renders: one more turn on it
    const next = await client.chat.completions.create({
      model: 'qwen3', messages: runner.messages, tools: [weatherTool], max_tokens: 5,
    });
    assert.ok(['stop', 'length', 'tool_calls'].includes(next.choices[0].finish_reason));
  });

  it('errors: required without tools, unknown named tool, built-in tool types', async () => {
    const bad = [
      [{ tool_choice: 'required' }, 'tool_choice'],
      [{ tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice.function.name'],
      [{ tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    ];
    for (const [extra, param] of bad) {
      await assert.rejects(client.chat.completions.create({ model: 'qwen3', messages: msgs, ...extra }),
        (e) => e.status === 400 && e.param === param);
    }
  });
});

describe('reasoning', () => {
  it('reasoning_effort reaches a thinking template, and is a 400 for a model that does not reason', async () => {
    for (const model of ['qwen3', 'gptoss']) {
      const r = await client.chat.completions.create({ model, messages: msgs, reasoning_effort: 'low', max_tokens: 3 });
      assert.ok(r.usage.completion_tokens_details);
    }
    await assert.rejects(client.chat.completions.create({ model: 'llama31', messages: msgs, reasoning_effort: 'low', max_tokens: 3 }),
      (e) => e.status === 400 && e.param === 'reasoning_effort');
  });
});
