// Browser test of the web playground (GET /) in headless Chromium, driven by playwright-core.
// Run by tests/e2e/test_playground.sh, which starts the servers; by hand:
//   CINDER_URL=http://127.0.0.1:8080 node tests/e2e/playground/playground.mjs
// Environment:
//   CINDER_URL             the cinder server under test (required)
//   CINDER_AUTH_URL        a second server started with --api-key CINDER_AUTH_KEY (the key field; skipped if unset)
//   CINDER_AUTH_KEY
//   CHROMIUM               the browser (default /usr/bin/chromium)
//   PLAYGROUND_SCREENSHOT  write a PNG of the page after a two-turn chat there
// Prints "ok   NAME" or "FAIL NAME" per check and a last line "playground-node: N passed, N failed";
// exits 1 when a check failed.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = (process.env.CINDER_URL || '').replace(/\/+$/, '');
const AUTH_ROOT = (process.env.CINDER_AUTH_URL || '').replace(/\/+$/, '');
const AUTH_KEY = process.env.CINDER_AUTH_KEY || '';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOT = process.env.PLAYGROUND_SCREENSHOT || '';
if (!ROOT) {
  console.error('set CINDER_URL (e.g. http://127.0.0.1:8080)');
  process.exit(2);
}

let passed = 0, failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}`);
    console.log(String((e && e.stack) || e).split('\n').slice(0, 8).map((l) => '     ' + l).join('\n'));
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The page as a client sees it, and the model ids the API lists.
const page0 = await fetch(ROOT + '/');
const html = await page0.text();
const models = (await (await fetch(ROOT + '/v1/models')).json()).data.map((m) => m.id);

// This machine may have no network: keep Chromium from trying to reach anything but the servers.
const userDataDir = mkdtempSync(join(tmpdir(), 'cinder-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 760 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 60000,
  });
} catch (e) {
  console.log('FAIL launch Chromium (' + CHROMIUM + ')');
  console.log('     ' + String(e.message || e).split('\n').slice(0, 6).join('\n     '));
  console.log('playground-node: 0 passed, 1 failed');
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(1);
}

const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(30000);
const problems = [];  // console errors (CSP violations among them) and uncaught exceptions
const outside = [];   // requests to anywhere but the servers under test
const chats = [];     // {body, headers, response, failure} of every POST /v1/chat/completions
page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
await context.route('**/*', (route) => {
  const url = route.request().url();
  const local = url.startsWith(ROOT + '/') || (AUTH_ROOT && url.startsWith(AUTH_ROOT + '/')) || url.startsWith('data:');
  if (!local) {
    outside.push(url);
    return route.abort();
  }
  return route.continue();
});
const chatOf = new Map();
page.on('request', (r) => {
  if (r.method() !== 'POST' || !r.url().endsWith('/v1/chat/completions')) return;
  const c = { body: r.postDataJSON(), headers: r.headers(), response: r.response(), failure: null };
  chatOf.set(r, c);
  chats.push(c);
});
page.on('requestfailed', (r) => { if (chatOf.has(r)) chatOf.get(r).failure = (r.failure() || {}).errorText || '?'; });

const answers = () => page.locator('.msg.assistant');
const lastAnswer = () => answers().last();
// Waits until the generation in flight has ended (the Send button is back, the Stop button is off).
async function waitIdle() {
  await page.waitForFunction(() => document.getElementById('stop').disabled &&
    !document.querySelector('.msg.assistant.live'));
}
// Records, from now on, the length of the newest answer's text at every change of the conversation area, and
// whether it was still streaming then (set up before sending: a small model answers within milliseconds).
async function watchUpdates() {
  await page.evaluate(() => {
    window.__updates = [];
    new MutationObserver(() => {
      const box = [...document.querySelectorAll('.msg.assistant')].pop();
      if (box) window.__updates.push([box.querySelector('.text').textContent.length, box.classList.contains('live')]);
    }).observe(document.getElementById('log'), { childList: true, characterData: true, subtree: true });
  });
}

try {
  await check('GET / is the page, as text/html with a Content-Security-Policy', async () => {
    assert(page0.status === 200, 'status ' + page0.status);
    assert(page0.headers.get('content-type') === 'text/html; charset=utf-8', page0.headers.get('content-type'));
    const csp = page0.headers.get('content-security-policy') || '';
    assert(/default-src 'none'/.test(csp) && /script-src 'sha256-/.test(csp) && /connect-src 'self'/.test(csp), csp);
    assert(!/https?:\/\//.test(html.replace(/<!--[\s\S]*?-->/g, '')), 'the page refers to an outside URL');
  });

  await page.goto(ROOT + '/');
  await check('the model picker lists /v1/models', async () => {
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    const opts = await page.locator('#model option').evaluateAll((os) => os.map((o) => o.value));
    assert(JSON.stringify(opts) === JSON.stringify(models), `picker ${JSON.stringify(opts)} vs ${JSON.stringify(models)}`);
    assert(/ready/.test(await page.locator('#status').textContent()), 'status line');
  });

  let first = '';
  await check('a message streams into the answer area', async () => {
    await page.fill('#system', 'You are a storyteller.');
    await page.fill('#temperature', '0.5');
    await page.fill('#max-tokens', '200');
    await page.fill('#input', 'Tell me a story about a cat');
    await watchUpdates();
    await page.click('#send');
    await page.waitForFunction(() => ([...document.querySelectorAll('.msg.assistant .text')].pop() || {}).textContent);
    await waitIdle();
    first = await lastAnswer().locator('.text').textContent();
    assert(first.length > 0, 'empty answer');
    const updates = await page.evaluate(() => window.__updates);
    const partial = new Set(updates.filter(([n, live]) => live && n > 0).map(([n]) => n));
    assert(partial.size > 1, 'the text did not grow while streaming: ' + JSON.stringify(updates));
    const req = chats[0];
    assert(req, 'no POST /v1/chat/completions seen');
    const b = req.body;
    assert(b.stream === true && b.model === models[0] && b.temperature === 0.5 && b.max_tokens === 200, JSON.stringify(b));
    assert(b.messages.length === 2 && b.messages[0].role === 'system' && b.messages[0].content === 'You are a storyteller.' &&
      b.messages[1].role === 'user' && b.messages[1].content === 'Tell me a story about a cat', JSON.stringify(b.messages));
    const resp = await req.response;
    assert(resp && /^text\/event-stream/.test(resp.headers()['content-type']), 'not an event stream');
    assert(!req.headers.authorization, 'sent an Authorization header without a key');
  });

  await check('the readout shows tokens, TTFT and tokens/s', async () => {
    const s = await page.locator('#stats').textContent();
    assert(/\b\d+ tokens?\b/.test(s) && /TTFT \d+ ms/.test(s) && /\d+(\.\d)? tok\/s/.test(s), s);
    const n = Number(/(\d+) tokens?/.exec(s)[1]);
    assert(n >= 1 && n <= 200, 'token count ' + n + ' (max_tokens 200)');
  });

  await check('the next turn sends the whole conversation', async () => {
    await page.fill('#input', 'And then?');
    await page.press('#input', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('.msg.assistant').length === 2);
    await waitIdle();
    const m = chats[1] && chats[1].body.messages;
    assert(m && m.length === 4, JSON.stringify(m));
    assert(m[2].role === 'assistant' && m[2].content === first && m[3].content === 'And then?', JSON.stringify(m));
    assert((await lastAnswer().locator('.text').textContent()).length > 0, 'empty second answer');
  });

  if (SHOT) await page.screenshot({ path: SHOT });

  await check('Stop aborts the request and the stream ends', async () => {
    await page.fill('#max-tokens', '1900');
    await page.fill('#temperature', '1');
    let stopped = false;
    // The tiny model writes a whole story in a fraction of a second, faster than a click; with the browser's
    // download throttled to 16 KB/s the stream (about 150 bytes per token) takes seconds to arrive. A story can
    // still end by itself before Stop is pressed; then try again (in a new chat, so that the prompt stays short
    // enough for 1900 more tokens).
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions',
      { offline: false, latency: 0, downloadThroughput: 16000, uploadThroughput: -1 });
    let attempt = 0;
    for (; attempt < 5 && !stopped; attempt++) {
      await page.click('#clear');
      await page.fill('#input', 'Tell me a very long story');
      await page.click('#send');
      await page.waitForFunction(() => {
        const box = [...document.querySelectorAll('.msg.assistant')].pop();
        return box && (box.querySelector('.text').textContent || box.classList.contains('error'));
      });
      await page.click('#stop', { timeout: 2000 }).catch(() => {});
      await waitIdle();
      const notes = await lastAnswer().locator('.note').allTextContents();
      assert(!(await lastAnswer().getAttribute('class')).includes('error'), 'error: ' + notes.join(' '));
      stopped = notes.includes('stopped');
    }
    await cdp.send('Network.emulateNetworkConditions',
      { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    assert(stopped, 'the generation never got stopped (5 tries)');
    if (attempt > 1) console.log(`     (stopped on try ${attempt})`);
    const partial = await lastAnswer().locator('.text').textContent();
    await sleep(500);
    assert((await lastAnswer().locator('.text').textContent()) === partial, 'text kept growing after Stop');
    assert(!(await page.locator('#send').isDisabled()) && (await page.locator('#stop').isDisabled()), 'buttons');
    // the browser dropped the connection (the server cancels a generation whose client went away; the server
    // suite tests that side)
    const failure = chats[chats.length - 1].failure;
    assert(/ABORTED/.test(failure || ''), 'the request was not aborted: ' + failure);
    // the stopped turn stays in the conversation as far as it was shown
    await page.fill('#max-tokens', '8');
    await page.fill('#input', 'Hello');
    await page.click('#send');
    await page.waitForFunction(() => document.querySelectorAll('.msg.assistant').length >= 2);
    await waitIdle();
    const m = chats[chats.length - 1].body.messages.filter((x) => x.role !== 'system');
    assert(m.length === 3 && m[1].role === 'assistant' && m[1].content === partial && m[2].content === 'Hello',
      JSON.stringify(m));
  });

  if (AUTH_ROOT) {
    const before = problems.length;
    await check('a server with API keys: the key field unlocks it', async () => {
      const n = chats.length;
      await page.goto(AUTH_ROOT + '/');
      await page.waitForFunction(() => /API key/.test(document.getElementById('status').textContent));
      assert(await page.locator('#send').isDisabled(), 'Send is enabled without a model');
      await page.fill('#api-key', AUTH_KEY);
      await page.dispatchEvent('#api-key', 'change');
      await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
      await page.fill('#max-tokens', '8');
      await page.fill('#input', 'Hi');
      await page.click('#send');
      await page.waitForFunction(() => document.querySelectorAll('.msg.assistant').length === 1);
      await waitIdle();
      assert((await lastAnswer().locator('.text').textContent()).length > 0, 'no answer');
      assert(chats.length === n + 1 && chats[n].headers.authorization === 'Bearer ' + AUTH_KEY, 'Authorization header');
    });

    await check('an error from the server shows in the answer', async () => {
      await page.fill('#api-key', 'sk-wrong');
      await page.dispatchEvent('#api-key', 'change');
      await page.waitForFunction(() => /API key/.test(document.getElementById('status').textContent));
      await page.fill('#input', 'Hi'); // the picker keeps the model it had, so Send stays on
      await page.click('#send');
      await page.waitForSelector('.msg.assistant.error');
      const note = await lastAnswer().locator('.note').textContent();
      assert(/API key/.test(note), note);
    });
    // the browser logs each 401 answer as a console error; those are expected here, and only those
    for (let i = problems.length - 1; i >= before; i--)
      if (/status of 401/.test(problems[i])) problems.splice(i, 1);
  }

  await check('no console errors, CSP violations or requests to other hosts', async () => {
    assert(problems.length === 0, problems.join('\n'));
    assert(outside.length === 0, 'outside requests: ' + outside.join(', '));
  });
} finally {
  await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(`playground-node: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
