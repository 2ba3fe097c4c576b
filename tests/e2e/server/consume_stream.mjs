// Helper of tests/e2e/test_server.sh (not a test file): streams a long completion from the server at argv[2]
// (a base URL ending in /v1) with the openai SDK, prints "streaming" at the first chunk, then how the stream
// ended: "ended without error", or "raised <ErrorClass>: <message>" (e.g. when the server shuts down mid-stream).
import OpenAI from 'openai';

const c = new OpenAI({ baseURL: process.argv[2], apiKey: process.env.CINDER_API_KEY || 'x', maxRetries: 0 });
try {
  const model = (await c.models.list()).data[0].id;
  const s = await c.completions.create({ model, prompt: 'Once', max_tokens: 2000, n: 8, stream: true });
  let n = 0;
  for await (const _ of s) if (++n === 1) console.log('streaming');
  console.log('ended without error');
} catch (e) {
  console.log(`raised ${e.constructor.name}: ${e.message}`);
}
