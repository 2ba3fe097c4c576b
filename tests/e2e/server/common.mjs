// Shared helpers of the `cinder serve` end-to-end tests (run by tests/e2e/test_server.sh, or by hand:
//   CINDER_BASE_URL=http://127.0.0.1:8080/v1 node --test tests/e2e/server/).
// Environment:
//   CINDER_BASE_URL        the server under test, ending in /v1 (required); started with --parallel 1, the
//                          disconnect tests prove that cancelled work frees the engine
//   CINDER_API_KEY         the key for it, if it needs one
//   CINDER_AUTH_BASE_URL   a second server started with --api-key CINDER_AUTH_KEY (auth tests; skipped if unset)
//   CINDER_AUTH_KEY
//   CINDER_LIMITS_BASE_URL a third server with --parallel 1 --max-connections 4 --timeout 2 --max-header-bytes 8192
//                          --max-queue 1 (limit tests; skipped if unset)
//   CINDER_CORS_ORIGIN     the --cors-origin the main server was started with (CORS tests; skipped if unset)
//   CINDER_MAX_BODY        the main server's --max-body-bytes (413 test; skipped if unset)
//   CINDER_BIN, CINDER_MODEL_PATH  ./cinder and the model file, for comparing with `cinder generate`
//   CINDER_REFERENCE       stories260K.greedy.jsonl (llama.cpp's greedy continuations; skipped if unset)
// Only APIs that Node 18 has are used (global fetch, AbortController, node:test).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

export const BASE_URL = process.env.CINDER_BASE_URL;
if (!BASE_URL) throw new Error('set CINDER_BASE_URL (e.g. http://127.0.0.1:8080/v1)');
export const ROOT_URL = BASE_URL.replace(/\/v1\/?$/, '');
export const API_KEY = process.env.CINDER_API_KEY || 'unused';
export const AUTH_BASE_URL = process.env.CINDER_AUTH_BASE_URL;
export const AUTH_KEY = process.env.CINDER_AUTH_KEY;
export const LIMITS_BASE_URL = process.env.CINDER_LIMITS_BASE_URL;
export const CORS_ORIGIN = process.env.CINDER_CORS_ORIGIN;
export const MAX_BODY = process.env.CINDER_MAX_BODY ? Number(process.env.CINDER_MAX_BODY) : 0;

export function client(opts = {}) {
  return new OpenAI({ baseURL: BASE_URL, apiKey: API_KEY, maxRetries: 0, timeout: 60000, ...opts });
}

let modelIdCache;
/** The id of the served model (the first one /v1/models lists). */
export async function modelId() {
  if (!modelIdCache) {
    const list = await client().models.list();
    modelIdCache = list.data[0].id;
  }
  return modelIdCache;
}

/** llama.cpp's greedy continuations of stories260K: [{prompt, n_predict, content}]. */
export function reference() {
  const path = process.env.CINDER_REFERENCE;
  if (!path) return [];
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

/** `cinder generate --temp 0` for a prompt (null when the binary or model is not known). */
export function generateGreedy(prompt, n) {
  const bin = process.env.CINDER_BIN, model = process.env.CINDER_MODEL_PATH;
  if (!bin || !model) return null;
  return execFileSync(bin, ['generate', '-m', model, '-p', prompt, '-n', String(n), '--temp', '0', '-t', '1'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

/** ChatML as cinder renders it for a model without a chat template. */
export function chatml(messages) {
  let s = '';
  for (const m of messages) s += `<|im_start|>${m.role === 'developer' ? 'system' : m.role}\n${m.content}<|im_end|>\n`;
  return s + '<|im_start|>assistant\n';
}

/** POST a JSON (or raw) body with fetch; returns {status, headers, text, json}. */
export async function post(path, body, { headers = {}, base = ROOT_URL, raw = false } = {}) {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}`, ...headers },
    body: raw ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

export async function get(path, { headers = {}, base = ROOT_URL, method = 'GET' } = {}) {
  const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${API_KEY}`, ...headers } });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

/** Splits an SSE body into its events: [{event, data}]. */
export function sseEvents(text) {
  const out = [];
  for (const block of text.split('\n\n')) {
    if (!block.trim()) continue;
    const ev = { event: null, data: '' };
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) ev.event = line.slice(7);
      else if (line.startsWith('data: ')) ev.data += line.slice(6);
    }
    out.push(ev);
  }
  return out;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
