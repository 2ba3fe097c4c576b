// /health and /v1/models.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { client, get, modelId } from './common.mjs';

describe('models and health', () => {
  it('GET /health', async () => {
    const r = await get('/health', { headers: { authorization: '' } });
    assert.equal(r.status, 200);
    assert.equal(r.json.status, 'ok');
    if (process.env.CINDER_BIN) {
      // cinder adds its load: totals and each model's (other servers may answer just {status: 'ok'})
      for (const k of ['queued', 'running', 'kv_blocks_used', 'kv_blocks_total']) assert.equal(typeof r.json[k], 'number', k);
      assert.ok(r.json.kv_blocks_total > 0);
      assert.equal(r.json.models.length, 1);
      assert.equal(r.json.models[0].status, 'ok');
    }
  });

  it('lists the model', async () => {
    const list = await client().models.list();
    assert.equal(list.data.length, 1);
    const m = list.data[0];
    assert.equal(m.object, 'model');
    assert.equal(typeof m.id, 'string');
    assert.equal(typeof m.created, 'number');
    assert.equal(typeof m.owned_by, 'string');
    const raw = await get('/v1/models');
    assert.equal(raw.json.object, 'list');
  });

  it('retrieves the model by id', async () => {
    const id = await modelId();
    const m = await client().models.retrieve(id);
    assert.deepEqual(m, (await client().models.list()).data[0]);
  });
});
