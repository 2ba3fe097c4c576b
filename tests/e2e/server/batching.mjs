// Continuous batching end to end (run by tests/e2e/test_batching.sh against `cinder serve --parallel 16`):
// 16 simultaneous streaming requests all complete with exactly the greedy text each gives alone, and streams
// that clients abort give back every KV block. Prints "ok"/"FAIL" lines and "batching-node: N passed, N failed".
// Environment: CINDER_BASE_URL (ends in /v1), CINDER_REFERENCE (stories260K.greedy.jsonl).
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

const BASE_URL = process.env.CINDER_BASE_URL;
const ROOT = BASE_URL.replace(/\/v1\/?$/, '');
const c = new OpenAI({ baseURL: BASE_URL, apiKey: 'unused', maxRetries: 0, timeout: 120000 });
let pass = 0, fail = 0;
const check = (ok, name, detail = '') => {
  if (ok) { pass++; console.log(`ok   ${name}`); } else { fail++; console.log(`FAIL ${name} ${detail}`); }
};
const health = async () => (await (await fetch(ROOT + '/health')).json());

const ref = readFileSync(process.env.CINDER_REFERENCE, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const model = (await c.models.list()).data[0].id;
const jobs = Array.from({ length: 16 }, (_, i) => ({ prompt: ref[i % ref.length].prompt, max_tokens: 24 + i }));

// alone, one after the other
const solo = [];
for (const j of jobs)
  solo.push((await c.completions.create({ model, prompt: j.prompt, max_tokens: j.max_tokens, temperature: 0 }))
    .choices[0].text);

// all 16 at once, streaming
let peakRunning = 0;
const poll = setInterval(async () => { try { peakRunning = Math.max(peakRunning, (await health()).running); } catch {} }, 20);
const together = await Promise.all(jobs.map(async (j) => {
  let text = '', finish = null, first = 0, last = 0;
  const { data: s, response } = await c.completions.create({ model, prompt: j.prompt, max_tokens: j.max_tokens,
    temperature: 0, stream: true }).withResponse();
  const id = response.headers.get('x-request-id');
  for await (const ch of s) {
    if (ch.choices.length) {
      last = performance.now();
      if (!first) first = last;
      text += ch.choices[0].text;
      if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
    }
  }
  return { text, finish, first, last, id };
}));
clearInterval(poll);
// Streams that were generating at the same moment, as the client saw them: the most [first chunk, last chunk]
// intervals that overlap. Run one after another they never would; /health's polls can miss a batch this short.
const edges = together.flatMap((t) => [[t.first, 1], [t.last, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
let open = 0, peakOverlap = 0;
for (const [, d] of edges) peakOverlap = Math.max(peakOverlap, (open += d));
check(together.every((t) => t.finish === 'stop' || t.finish === 'length'), '16 concurrent streams all finish');
const wrong = together.map((t, i) => (t.text === solo[i] ? -1 : i)).filter((i) => i >= 0);
check(wrong.length === 0, '16 concurrent streams each equal their solo greedy text', `differ: ${wrong}`);
// The server's view, from its request log (CINDER_SERVER_LOG): each stream generated from its first token
// (end - duration + ttft) to its end; the most such intervals that overlap ran in the same forward passes.
let serverOverlap = 0;
if (process.env.CINDER_SERVER_LOG) {
  await new Promise((r) => setTimeout(r, 100)); // the last log lines
  const lines = readFileSync(process.env.CINDER_SERVER_LOG, 'utf8').split('\n');
  const field = (l, k) => (new RegExp(`(?:^| )${k}=("[^"]*"|\\S+)`).exec(l) || [])[1];
  const spans = together.map((t) => {
    const l = lines.find((x) => field(x, 'msg') === 'request' && field(x, 'id') === t.id);
    if (!l) return null;
    const end = Date.parse(field(l, 'ts')), dur = Number(field(l, 'duration_ms')), ttft = Number(field(l, 'ttft_ms'));
    return [end - dur + ttft, end];
  }).filter(Boolean);
  const ev = spans.flatMap(([a, b]) => [[a, 1], [b, -1]]).sort((x, y) => x[0] - y[0] || x[1] - y[1]); // ends first
  let o = 0;
  for (const [, d] of ev) serverOverlap = Math.max(serverOverlap, (o += d));
}
check(serverOverlap > 1 || peakOverlap > 1 || peakRunning > 1,
  `requests really ran together (server-side ${serverOverlap} generating at once, streams overlapping ` +
  `${peakOverlap}, /health running up to ${peakRunning})`);

// aborted streams return their blocks
const ctls = [];
const streams = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
  const ctl = new AbortController();
  ctls.push(ctl);
  const res = await fetch(BASE_URL + '/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: ctl.signal,
    body: JSON.stringify({ model, prompt: ref[i % ref.length].prompt, max_tokens: 400, temperature: 1, seed: i,
      stream: true }),
  });
  const reader = res.body.getReader();
  await reader.read(); // generating now
  return reader;
}));
const during = await health();
check(during.kv_blocks_used > 0, `streams hold KV blocks while running (${during.kv_blocks_used})`);
ctls.forEach((ctl) => ctl.abort());
await Promise.all(streams.map((r) => r.cancel().catch(() => {})));
let after = await health();
for (let i = 0; i < 100 && (after.kv_blocks_used !== 0 || after.running !== 0); i++) {
  await new Promise((r) => setTimeout(r, 50));
  after = await health();
}
check(after.kv_blocks_used === 0 && after.running === 0,
  'aborted streams give back every block', JSON.stringify(after));
console.log(`batching-node: ${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
