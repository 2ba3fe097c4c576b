/*
 * model_attn.c — one layer's attention for a whole batch over the paged cache: every token attends to its own
 * sequence's positions (causal: up to its own; an encoder's: all of the entry's), within the layer's sliding
 * window when it has one, with the architecture's logit soft-cap. Decode tokens and short chunks walk the cache
 * block by block (each key/value row read once for the query heads that share it); long prompt chunks run as
 * matrix products per head. Work items are split over the kernel pool's threads. Shapes are those of model_int.h.
 */
#include <math.h>
#include <string.h>

#include "model_int.h"

typedef struct {
    model_ctx_t *c;
    kv_cache_t *kv;
    const model_batch_seq_t *seqs;
    int32_t n_seqs, layer, n;
    int32_t *first; /* (n_seqs,) index of each entry's first token in the batch */
    int32_t window; /* positions a token sees, itself included (INT32_MAX without a sliding window) */
    bool causal;    /* false: every token sees all of its entry's positions (encoders) */
} model__attn_job_t;

/* Scores s -> cap * tanh(s) for n values already multiplied by (scale / cap): the soft-capped logits. */
static void model__softcap(float *s, int32_t n, float cap) {
    for (int32_t i = 0; i < n; i++) s[i] = cap * tanhf(s[i]);
}

/*
 * One (token, key/value head): a token at position p attends to positions lo..p of its own sequence (lo = 0, or
 * the start of its window), block by block, for the G query heads that share the key/value head (grouped-query
 * attention), each cache row read once for all G. scores holds G rows of c->scores_stride, indexed by position.
 */
static void model__attn_token(const model__attn_job_t *job, int32_t i, int32_t kvh, float *scores) {
    const model_hparams_t *hp = &job->c->m->hp;
    const int32_t hd = hp->head_dim, hdv = hp->head_dim_v, nq = hp->n_head * hd, nav = hp->n_head * hdv;
    const int32_t G = hp->n_head / hp->n_head_kv;
    const kv_params_t *kp = kv_params(job->kv);
    const int32_t bt = kp->block_tokens;
    const size_t ss = job->c->scores_stride;
    const float cap = hp->attn_softcap, scale = cap > 0.0f ? hp->kq_scale / cap : hp->kq_scale;
    const int32_t e = job->c->tok_entry[i];
    const kv_seq_t *ks = job->seqs[e].kv;
    const int32_t n_pos = job->causal ? job->c->tok_pos[i] + 1 : job->c->tok_pos[job->first[e]] + job->seqs[e].n;
    const int32_t lo = n_pos > job->window ? n_pos - job->window : 0;
    const float *q = job->c->q + (size_t)i * nq + (size_t)kvh * G * hd;
    float *out = job->c->att + (size_t)i * nav + (size_t)kvh * G * hdv;
    for (int32_t t0 = lo - lo % bt; t0 < n_pos; t0 += bt) {
        int32_t a = t0 > lo ? t0 : lo, nb = (n_pos - t0 < bt ? n_pos - t0 : bt) - (a - t0);
        const uint16_t *k = kv_block_k(job->kv, ks->blocks[t0 / bt], job->layer) + (size_t)(a - t0) * kp->k_dim;
        kern_attn_scores_heads(q, G, k + (size_t)kvh * hd, (size_t)kp->k_dim, nb, hd, scale, scores + a, ss);
    }
    for (int32_t g = 0; g < G; g++) {
        if (cap > 0.0f) model__softcap(scores + (size_t)g * ss + lo, n_pos - lo, cap);
        kern_softmax(scores + (size_t)g * ss + lo, n_pos - lo);
    }
    memset(out, 0, (size_t)G * hdv * sizeof(float));
    for (int32_t t0 = lo - lo % bt; t0 < n_pos; t0 += bt) {
        int32_t a = t0 > lo ? t0 : lo, nb = (n_pos - t0 < bt ? n_pos - t0 : bt) - (a - t0);
        const uint16_t *v = kv_block_v(job->kv, ks->blocks[t0 / bt], job->layer) + (size_t)(a - t0) * kp->v_dim;
        kern_attn_accum_heads(scores + a, ss, G, v + (size_t)kvh * hdv, (size_t)kp->v_dim, nb, hdv, out);
    }
}

/* One (prompt chunk, head) as matrix products: K and V of the head's positions are widened to F32 once, then
 * for tiles of query rows S = scale * Q K^T, a causal (and windowed) softmax per row, and O = P V. */
static void model__attn_chunk(const model__attn_job_t *job, int32_t e, int32_t h, float *tile) {
    const model_ctx_t *c = job->c;
    const model_hparams_t *hp = &c->m->hp;
    const int32_t hd = hp->head_dim, hdv = hp->head_dim_v, nq = hp->n_head * hd, nav = hp->n_head * hdv;
    const kv_params_t *kp = kv_params(job->kv);
    const int32_t bt = kp->block_tokens;
    const model_batch_seq_t *bs = &job->seqs[e];
    const int32_t first = job->first[e], p0 = c->tok_pos[first], n_k = p0 + bs->n;
    const int32_t kvh = h / (hp->n_head / hp->n_head_kv);
    /* keys before k0 are outside every row's window */
    const int32_t k0 = p0 + 1 > job->window ? p0 + 1 - job->window : 0;
    float *kf = tile, *vf = tile + (size_t)c->max_ctx * hd, *sc = vf + (size_t)c->max_ctx * hdv;
    for (int32_t t = k0; t < n_k; t++) {
        int32_t blk = bs->kv->blocks[t / bt];
        kern_f16_to_f32(kv_block_k(job->kv, blk, job->layer) + (size_t)(t % bt) * kp->k_dim + (size_t)kvh * hd,
                        kf + (size_t)(t - k0) * hd, hd);
        kern_f16_to_f32(kv_block_v(job->kv, blk, job->layer) + (size_t)(t % bt) * kp->v_dim + (size_t)kvh * hdv,
                        vf + (size_t)(t - k0) * hdv, hdv);
    }
    const int32_t rows = (int32_t)((c->tile_floats - (size_t)c->max_ctx * (hd + hdv)) / (size_t)c->max_ctx);
    const float cap = hp->attn_softcap, scale = cap > 0.0f ? hp->kq_scale / cap : hp->kq_scale;
    for (int32_t r0 = 0; r0 < bs->n; r0 += rows) {
        int32_t m = bs->n - r0 < rows ? bs->n - r0 : rows;
        int32_t n_cols = (job->causal ? p0 + r0 + m : n_k) - k0; /* keys any row of this tile may see, from k0 */
        const float *q = c->q + (size_t)(first + r0) * nq + (size_t)h * hd;
        kern_sgemm_nt(m, n_cols, hd, scale, q, nq, kf, hd, sc, n_cols);
        for (int32_t i = 0; i < m; i++) {
            float *row = sc + (size_t)i * n_cols;
            int32_t n_pos = job->causal ? p0 + r0 + i + 1 : n_k; /* this row sees positions [lo, n_pos) */
            int32_t lo = n_pos > job->window ? n_pos - job->window : 0;
            int32_t a = lo - k0, b = n_pos - k0;
            if (cap > 0.0f) model__softcap(row + a, b - a, cap);
            kern_softmax(row + a, b - a);
            if (a > 0) memset(row, 0, (size_t)a * sizeof(float));
            if (b < n_cols) memset(row + b, 0, (size_t)(n_cols - b) * sizeof(float));
        }
        kern_sgemm_nn(m, hdv, n_cols, 1.0f, sc, n_cols, vf, hdv, 0.0f, c->att + (size_t)(first + r0) * nav + (size_t)h * hdv,
                      nav);
    }
}

/* Thread body: work items are (chunk, head) pairs for long prompt chunks, then (token, head) pairs for the
 * tokens of every other entry, split evenly over the pool. */
static void model__attn_worker(void *arg, int ith, int nth) {
    model__attn_job_t *job = arg;
    model_ctx_t *c = job->c;
    const int32_t n_head = c->m->hp.n_head, n_kv = c->m->hp.n_head_kv;
    int64_t n_chunk_items = 0, n_token_items = 0;
    for (int32_t e = 0; e < job->n_seqs; e++) {
        if (job->seqs[e].n >= MODEL_ATTN_GEMM_MIN) n_chunk_items += n_head;
        else n_token_items += (int64_t)job->seqs[e].n * n_kv;
    }
    float *scores = c->scores + (size_t)ith * (size_t)(n_head / n_kv) * c->scores_stride;
    float *tile = c->tile + (size_t)ith * c->tile_floats;
    int64_t total = n_chunk_items + n_token_items;
    int64_t per = (total + nth - 1) / nth, lo = per * ith, hi = lo + per < total ? lo + per : total;
    int64_t w = 0;
    for (int32_t e = 0; e < job->n_seqs && w < hi; e++) {
        const model_batch_seq_t *bs = &job->seqs[e];
        bool chunk = bs->n >= MODEL_ATTN_GEMM_MIN;
        int64_t items = chunk ? n_head : (int64_t)bs->n * n_kv; /* chunks per query head, tokens per kv head */
        if (w + items <= lo) {
            w += items;
            continue;
        }
        for (int64_t k = 0; k < items; k++, w++) {
            if (w < lo) continue;
            if (w >= hi) break;
            if (chunk) model__attn_chunk(job, e, (int32_t)k, tile);
            else model__attn_token(job, job->first[e] + (int32_t)(k / n_kv), (int32_t)(k % n_kv), scores);
        }
    }
}

void model__attention(model_ctx_t *c, kv_cache_t *kv, const model_batch_seq_t *seqs, int32_t n_seqs, int32_t layer,
                      int32_t n) {
    const model_t *m = c->m;
    model__attn_job_t job = {.c = c, .kv = kv, .seqs = seqs, .n_seqs = n_seqs, .layer = layer, .n = n,
                             .first = c->entry_first,
                             .window = m->layers[layer].swa ? m->hp.n_swa : INT32_MAX,
                             .causal = m->hp.causal};
    kern_pool_run(c->pool, model__attn_worker, &job);
}
