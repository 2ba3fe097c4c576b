// /v1/embeddings with the official openai SDK (embeddings.create: its default base64 and float), LangChain.js's
// OpenAIEmbeddings (embedDocuments, embedQuery) and raw fetch: unit vectors, the same values in both encodings,
// batches equal to single inputs, `dimensions`, usage, and the errors (a generative model asked for embeddings, an
// embedding model asked for chat, an empty input, too long an input).
// The embedding tests need CINDER_EMBED_MODEL: the id of an embedding model served by the same server
// (tests/e2e/test_embeddings.sh starts one when CINDER_E2E_EMBED_MODEL names a GGUF file); without it they are
// skipped and only the generative model's 400 is checked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BASE_URL, API_KEY, client, modelId, post } from './common.mjs';

const EMBED = process.env.CINDER_EMBED_MODEL;
const skip = EMBED ? false : 'no embedding model (set CINDER_E2E_EMBED_MODEL for tests/e2e/test_embeddings.sh)';
// LangChain.js 1.x uses the global Web Crypto object, which Node 18 (Debian 12's) only has on require.
if (!globalThis.crypto) globalThis.crypto = (await import('node:crypto')).webcrypto;
const skipLc = skip;

const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const cos = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0) / (norm(a) * norm(b));
const TEXTS = ['The cat sat on the mat.', 'A quick brown fox jumps over the lazy dog.', 'Embeddings for search.'];

// llama.cpp's llama-embedding vectors for the same model (tests/embed/reference.json, key = the model file's name),
// when the runner names them: CINDER_EMBED_REFERENCE (the file) and CINDER_EMBED_REFERENCE_KEY (e.g. emb-bert-q8_0).
const REF_FILE = process.env.CINDER_EMBED_REFERENCE, REF_KEY = process.env.CINDER_EMBED_REFERENCE_KEY;
const skipRef = skip || (REF_FILE && REF_KEY ? false : 'no llama.cpp reference named');

describe('embeddings', () => {
  it('equal llama.cpp\'s llama-embedding vectors (SDK base64 and float, LangChain)', { skip: skipRef }, async () => {
    const { readFileSync } = await import('node:fs');
    const ref = JSON.parse(readFileSync(REF_FILE, 'utf8'));
    const want = ref.models[REF_KEY];
    const tol = /f32/.test(REF_KEY) ? 0.99999 : 0.999;
    const c = client();
    const b64 = await c.embeddings.create({ model: EMBED, input: ref.inputs });
    const flt = await c.embeddings.create({ model: EMBED, input: ref.inputs, encoding_format: 'float' });
    const one = await Promise.all(ref.inputs.map((t) => c.embeddings.create({ model: EMBED, input: t })));
    for (let i = 0; i < ref.inputs.length; i++) {
      for (const got of [b64.data[i].embedding, flt.data[i].embedding, one[i].data[0].embedding]) {
        const k = cos(got, want[i]);
        assert.ok(k >= tol, `input ${i}: cosine ${k} < ${tol}`);
      }
    }
    if (!skipLc) {
      const { OpenAIEmbeddings } = await import('@langchain/openai');
      const lc = new OpenAIEmbeddings({ model: EMBED, apiKey: API_KEY, configuration: { baseURL: BASE_URL } });
      const docs = await lc.embedDocuments(ref.inputs);
      docs.forEach((v, i) => assert.ok(cos(v, want[i]) >= tol, `LangChain input ${i}`));
    }
  });

  it('a generative model answers 400 on /v1/embeddings', async () => {
    const r = await post('/v1/embeddings', { model: await modelId(), input: 'hello' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'model');
    assert.match(r.json.error.message, /does not support embeddings/);
  });

  it('SDK: default (base64) and float give the same unit vectors', { skip }, async () => {
    const c = client();
    const b64 = await c.embeddings.create({ model: EMBED, input: TEXTS });
    const flt = await c.embeddings.create({ model: EMBED, input: TEXTS, encoding_format: 'float' });
    assert.equal(b64.object, 'list');
    assert.equal(b64.model, EMBED);
    assert.equal(b64.data.length, TEXTS.length);
    assert.ok(b64.usage.prompt_tokens > TEXTS.length && b64.usage.total_tokens === b64.usage.prompt_tokens);
    for (let i = 0; i < TEXTS.length; i++) {
      assert.equal(b64.data[i].object, 'embedding');
      assert.equal(b64.data[i].index, i);
      const a = b64.data[i].embedding, f = flt.data[i].embedding;
      assert.ok(Array.isArray(a) && a.length === f.length && a.length > 0);
      assert.ok(Math.abs(norm(f) - 1) < 1e-4);
      for (let k = 0; k < a.length; k++) assert.equal(a[k], Math.fround(f[k])); /* float32 both ways */
    }
    /* a batch gives what single inputs give */
    const one = await c.embeddings.create({ model: EMBED, input: TEXTS[1], encoding_format: 'float' });
    assert.ok(cos(one.data[0].embedding, flt.data[1].embedding) > 0.9999);
  });

  it('SDK: dimensions shortens and renormalises', { skip }, async () => {
    const c = client();
    const full = await c.embeddings.create({ model: EMBED, input: TEXTS[0], encoding_format: 'float' });
    const d = Math.max(1, Math.floor(full.data[0].embedding.length / 2));
    const short = await c.embeddings.create({ model: EMBED, input: TEXTS[0], encoding_format: 'float', dimensions: d });
    const v = short.data[0].embedding, head = full.data[0].embedding.slice(0, d);
    assert.equal(v.length, d);
    assert.ok(Math.abs(norm(v) - 1) < 1e-4);
    assert.ok(cos(v, head) > 0.9999);
    await assert.rejects(c.embeddings.create({ model: EMBED, input: 'x', dimensions: full.data[0].embedding.length + 1 }),
                         (e) => e.status === 400 && e.param === 'dimensions');
  });

  it('LangChain OpenAIEmbeddings: embedDocuments and embedQuery', { skip: skipLc }, async () => {
    const { OpenAIEmbeddings } = await import('@langchain/openai');
    const lc = new OpenAIEmbeddings({ model: EMBED, apiKey: API_KEY, configuration: { baseURL: BASE_URL },
                                      maxRetries: 0 });
    const docs = await lc.embedDocuments(TEXTS);
    const q = await lc.embedQuery(TEXTS[2]);
    assert.equal(docs.length, TEXTS.length);
    assert.ok(Math.abs(norm(q) - 1) < 1e-4);
    assert.ok(cos(q, docs[2]) > 0.9999);
    const ref = await client().embeddings.create({ model: EMBED, input: TEXTS, encoding_format: 'float' });
    for (let i = 0; i < TEXTS.length; i++) assert.ok(cos(docs[i], ref.data[i].embedding) > 0.9999);
  });

  it('errors: chat on an embedding model, empty input, too long an input', { skip }, async () => {
    const chat = await post('/v1/chat/completions', { model: EMBED, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(chat.status, 400);
    assert.match(chat.json.error.message, /embedding model/);
    const empty = await post('/v1/embeddings', { model: EMBED, input: '' });
    assert.equal(empty.status, 400);
    assert.match(empty.json.error.message, /'\$\.input' is invalid/);
    const long = await post('/v1/embeddings', { model: EMBED, input: 'word '.repeat(20000) });
    assert.equal(long.status, 400);
    assert.equal(long.json.error.code, 'context_length_exceeded');
  });
});
