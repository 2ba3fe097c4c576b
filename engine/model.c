/*
 * model.c — loading a model (model_load.c reads its architecture) and running its forward pass over a batch of
 * tokens: one pass for every architecture, its optional steps switched on by the hyperparameters and tensors the
 * descriptor made the loader read. Shapes are those of model_int.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "model_int.h"
#include "weights_check.h"

/* A sequence with a private paged cache just big enough for n_ctx positions. */
struct model_seq {
    int32_t n_ctx;     /* capacity in positions */
    kv_cache_t *kv;    /* ceil(n_ctx / MODEL_SEQ_BLOCK) blocks */
    kv_seq_t seq;      /* its block table */
    int32_t *tokens;   /* (n_ctx,) ids at each position, for kv_seq_commit */
};

#define MODEL_SEQ_BLOCK 16

/* The type that holds the most weight bytes, for `info` and logs. */
static const char *model__main_type(const model_t *m) {
    uint64_t by_type[DT_COUNT] = {0};
    for (int64_t i = 0; i < gguf_n_tensors(m->g); i++) {
        const gguf_tensor_t *t = gguf_tensor(m->g, i);
        if ((uint32_t)t->type < DT_COUNT) by_type[t->type] += t->n_bytes;
    }
    uint32_t best = 0;
    for (uint32_t i = 1; i < DT_COUNT; i++)
        if (by_type[i] > by_type[best]) best = i;
    return dtype_name(best);
}

int model_load(const char *path, model_t **out, char *err, size_t err_len) {
    *out = NULL;
    model_t *m = calloc(1, sizeof *m);
    if (!m) return err_set(err, err_len, ERR_NOMEM, "%s: out of memory", path);
    int rc = gguf_open(path, &m->g, err, err_len);
    if (rc) goto fail;
    if ((rc = model__load_arch(m, err, err_len))) goto fail;
    if ((rc = wcheck_gguf(m->g, err, err_len))) goto fail; /* NaN/inf weights or scales: refuse the file */
    m->weight_type = model__main_type(m);
    *out = m;
    return 0;
fail:
    model_free(m);
    return rc;
}

void model_free(model_t *m) {
    if (!m) return;
    if (m->layers) {
        for (int32_t l = 0; l < m->hp.n_layer; l++) {
            model_layer_t *L = &m->layers[l];
            float *vecs[] = {L->attn_norm, L->bq,       L->bk,       L->bv,           L->q_norm,
                             L->k_norm,    L->attn_post_norm, L->ffn_norm, L->ffn_post_norm, L->bo,
                             L->b_up,      L->b_down,    L->attn_out_norm, L->attn_out_norm_b, L->out_norm,
                             L->out_norm_b};
            for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) free(vecs[i]);
        }
        free(m->layers);
    }
    free(m->output_norm);
    free(m->type_embd);
    free(m->tok_norm);
    free(m->tok_norm_b);
    free(m->rope_freqs);
    free(m->rope_long);
    free(m->rope_short);
    tok_free(m->tok);
    gguf_close(m->g);
    free(m);
}

const model_hparams_t *model_hparams(const model_t *m) { return &m->hp; }
const tok_t *model_tok(const model_t *m) { return m->tok; }
const gguf_t *model_gguf(const model_t *m) { return m->g; }

void model_prefault(const model_t *m, void (*progress)(void *user, uint64_t done, uint64_t total), void *user) {
    gguf_prefault(m->g, m->hp.tied_output ? NULL : "token_embd.weight", progress, user);
}
char *model_describe(const model_t *m, char *buf, size_t len) {
    const model_hparams_t *hp = &m->hp;
    char feat[256];
    arch_feature_names(hp->features, feat, sizeof feat);
    int w = snprintf(buf, len, "%s (features: %s", hp->arch, feat[0] ? feat : "none");
    if (w >= 0 && (size_t)w < len && hp->n_expert > 0)
        w += snprintf(buf + w, len - (size_t)w, "; %d experts, %d per token, width %d", hp->n_expert,
                      hp->n_expert_used, hp->n_ff_exp);
    if (w >= 0 && (size_t)w < len && hp->n_ff_shexp > 0)
        w += snprintf(buf + w, len - (size_t)w, ", shared expert width %d", hp->n_ff_shexp);
    if (w >= 0 && (size_t)w < len && hp->features & ARCH_F_SWA) {
        int32_t n_swa_layers = 0;
        for (int32_t l = 0; l < hp->n_layer; l++) n_swa_layers += m->layers[l].swa;
        w += snprintf(buf + w, len - (size_t)w, "; sliding window %d on %d of %d layers, local rope base %g", hp->n_swa,
                      n_swa_layers, hp->n_layer, hp->rope_freq_base_swa);
    }
    if (w >= 0 && (size_t)w < len && hp->attn_softcap > 0.0f)
        w += snprintf(buf + w, len - (size_t)w, "; attention soft-cap %g", hp->attn_softcap);
    if (w >= 0 && (size_t)w < len && hp->final_softcap > 0.0f)
        w += snprintf(buf + w, len - (size_t)w, "; final soft-cap %g", hp->final_softcap);
    if (w >= 0 && (size_t)w < len && hp->pooling != MODEL_POOL_NONE)
        w += snprintf(buf + w, len - (size_t)w, "; embeddings: %s pooling, %s attention", model_pool_name(hp->pooling),
                      hp->causal ? "causal" : "bidirectional");
    if (w >= 0 && (size_t)w < len) snprintf(buf + w, len - (size_t)w, ")");
    return buf;
}

const char *model_pool_name(model_pool_t p) {
    switch (p) {
    case MODEL_POOL_MEAN: return "mean";
    case MODEL_POOL_CLS: return "cls";
    case MODEL_POOL_LAST: return "last";
    default: return "none";
    }
}

uint64_t model_weight_bytes(const model_t *m) { return m->weight_bytes; }
const char *model_weight_type(const model_t *m) { return m->weight_type; }

/* ---- contexts and single sequences ----------------------------------------------------------------------- */

kv_params_t model_kv_params(const model_t *m, int32_t block_tokens, int32_t n_blocks) {
    kv_params_t p = {.n_layer = m->hp.n_layer,
                     .k_dim = m->hp.n_head_kv * m->hp.head_dim,
                     .v_dim = m->hp.n_head_kv * m->hp.head_dim_v,
                     .block_tokens = block_tokens,
                     .n_blocks = n_blocks};
    return p;
}

int model_seq_create(const model_t *m, int32_t n_ctx, model_seq_t **out) {
    *out = NULL;
    if (n_ctx <= 0) return ERR_INVAL;
    model_seq_t *s = calloc(1, sizeof *s);
    if (!s) return ERR_NOMEM;
    s->n_ctx = n_ctx;
    kv_params_t kp = model_kv_params(m, MODEL_SEQ_BLOCK, (n_ctx + MODEL_SEQ_BLOCK - 1) / MODEL_SEQ_BLOCK);
    int rc = kv_create(&kp, &s->kv);
    s->tokens = malloc((size_t)n_ctx * sizeof *s->tokens);
    if (rc || !s->tokens) {
        model_seq_free(s);
        return rc ? rc : ERR_NOMEM;
    }
    *out = s;
    return 0;
}

void model_seq_free(model_seq_t *s) {
    if (!s) return;
    if (s->kv) kv_seq_release(s->kv, &s->seq);
    kv_free(s->kv);
    free(s->tokens);
    free(s);
}

int32_t model_seq_pos(const model_seq_t *s) { return s->seq.n_tokens; }
int32_t model_seq_capacity(const model_seq_t *s) { return s->n_ctx; }
void model_seq_clear(model_seq_t *s) { kv_seq_release(s->kv, &s->seq); }

static int model__online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int model_ctx_create(const model_t *m, int n_threads, int32_t max_batch, int32_t max_ctx, model_ctx_t **out) {
    *out = NULL;
    if (n_threads < 0 || n_threads > 256 || max_batch <= 0 || max_ctx <= 0) return ERR_INVAL;
    if (n_threads == 0) n_threads = model__online_cpus();
    if (n_threads > 256) n_threads = 256;
    const model_hparams_t *hp = &m->hp;
    model_ctx_t *c = calloc(1, sizeof *c);
    if (!c) return ERR_NOMEM;
    c->m = m;
    c->max_batch = max_batch;
    c->max_ctx = max_ctx;
    const size_t B = (size_t)max_batch, d = (size_t)hp->n_embd;
    size_t ff = (size_t)(hp->n_ff > hp->n_ff_exp ? hp->n_ff : hp->n_ff_exp);
    if ((size_t)hp->n_ff_shexp > ff) ff = (size_t)hp->n_ff_shexp;
    const size_t nq = (size_t)hp->n_head * hp->head_dim, nk = (size_t)hp->n_head_kv * hp->head_dim;
    const size_t nv = (size_t)hp->n_head_kv * hp->head_dim_v, nav = (size_t)hp->n_head * hp->head_dim_v;
    const size_t dx = d > nav ? d : nav, E = (size_t)hp->n_expert, K = (size_t)hp->n_expert_used;
    const bool fused_gu = (hp->features & ARCH_F_FUSED_GATE_UP) != 0;
    int64_t max_cols = (int64_t)(dx > ff ? dx : ff);
    int64_t max_rows = hp->n_vocab;
    if ((int64_t)(2 * ff) > max_rows) max_rows = (int64_t)(2 * ff);
    if ((int64_t)(nq + nk + nv) > max_rows) max_rows = (int64_t)(nq + nk + nv);
    int rc = kern_pool_create(n_threads, &c->pool);
    if (rc) goto fail;
    rc = kern_ctx_create(c->pool, max_cols, max_rows, max_batch, &c->k);
    if (rc) goto fail;
    rc = ERR_NOMEM;
    c->x = malloc(B * d * sizeof(float));
    c->xb = malloc(B * dx * sizeof(float));
    c->q = malloc(B * nq * sizeof(float));
    c->kk = malloc(B * nk * sizeof(float));
    c->vv = malloc(B * nv * sizeof(float));
    if (hp->features & ARCH_F_FUSED_QKV && !(c->qkv = malloc(B * (nq + nk + nv) * sizeof(float)))) goto fail;
    c->att = malloc(B * nav * sizeof(float));
    c->hb = malloc(B * (fused_gu ? 2 : 1) * ff * sizeof(float));
    c->hb2 = malloc(B * ff * sizeof(float));
    /* The G score rows of a thread are one stride apart. A stride of max_ctx floats put them a multiple of 4 KiB
     * apart whenever -c was a multiple of 1024 (the usual values): each row's stores then alias the other rows'
     * loads in the core's 4 KiB store-forwarding check and land in the same L1 sets, a cost that grew with -c. The
     * extra 64 bytes keep the rows on different sets at any -c. */
    c->scores_stride = ((size_t)max_ctx + 15) / 16 * 16 + 16;
    c->scores = malloc((size_t)n_threads * (size_t)(hp->n_head / hp->n_head_kv) * c->scores_stride * sizeof(float));
    /* per thread: K and V of one head as F32 (max_ctx, hd) and (max_ctx, hdv), and a scores tile of at least 64
     * query rows */
    size_t qrows = (size_t)(max_batch < 64 ? max_batch : 64);
    c->tile_floats = (size_t)max_ctx * (size_t)(hp->head_dim + hp->head_dim_v) + qrows * (size_t)max_ctx;
    c->tile = malloc((size_t)n_threads * c->tile_floats * sizeof(float));
    c->rope = malloc(B * (size_t)hp->n_rot * sizeof(float));
    bool swa_rope = (hp->features & ARCH_F_SWA) &&
                    (hp->rope_freq_base_swa != hp->rope_freq_base || hp->rope_freq_scale_swa != hp->rope_freq_scale);
    if (swa_rope && !(c->rope_swa = malloc(B * (size_t)hp->n_rot * sizeof(float)))) goto fail;
    /* LongRoPE: the long factors when this context reaches past the original one (as llama.cpp chooses) */
    c->rope_factors = m->rope_freqs;
    if (!c->rope_factors) c->rope_factors = max_ctx > hp->n_ctx_orig && m->rope_long ? m->rope_long : m->rope_short;
    c->tok_entry = malloc(B * sizeof(int32_t));
    c->tok_pos = malloc(B * sizeof(int32_t));
    c->entry_first = malloc(B * sizeof(int32_t));
    if (E > 0) {
        c->moe_logits = malloc(B * E * sizeof(float));
        c->moe_sel = malloc(B * K * sizeof(int32_t));
        c->moe_w = malloc(B * K * sizeof(float));
        c->moe_rows = malloc(B * K * sizeof(int32_t));
        c->moe_x = malloc(B * K * dx * sizeof(float));
        c->moe_y = malloc(B * K * d * sizeof(float));
        if (!c->moe_logits || !c->moe_sel || !c->moe_w || !c->moe_rows || !c->moe_x || !c->moe_y) goto fail;
    }
    if (!c->x || !c->xb || !c->q || !c->kk || !c->vv || !c->att || !c->hb || !c->hb2 || !c->scores || !c->tile ||
        !c->rope || !c->tok_entry || !c->tok_pos || !c->entry_first)
        goto fail;
    *out = c;
    return 0;
fail:
    model_ctx_free(c);
    return rc;
}

void model_ctx_free(model_ctx_t *c) {
    if (!c) return;
    kern_ctx_free(c->k);
    kern_pool_free(c->pool);
    free(c->x);
    free(c->xb);
    free(c->q);
    free(c->kk);
    free(c->vv);
    free(c->qkv);
    free(c->att);
    free(c->hb);
    free(c->hb2);
    free(c->scores);
    free(c->tile);
    free(c->rope);
    free(c->rope_swa);
    free(c->moe_logits);
    free(c->moe_sel);
    free(c->moe_w);
    free(c->moe_rows);
    free(c->moe_x);
    free(c->moe_y);
    free(c->tok_entry);
    free(c->tok_pos);
    free(c->entry_first);
    free(c);
}

int model_ctx_n_threads(const model_ctx_t *c) { return kern_pool_n_threads(c->pool); }

/* ---- forward pass ----------------------------------------------------------------------------------------- */

/*
 * cos/sin pairs (n_rot,) for position pos with the given base and frequency scale, computed as llama.cpp does
 * (theta in float, by repeated multiplication; YaRN's ramp between interpolation and extrapolation; the magnitude
 * factor on both) so that rotations agree to the last bit.
 */
static void model__rope_row(const model_ctx_t *c, float base, float freq_scale, int32_t pos, float *row) {
    const model_hparams_t *hp = &c->m->hp;
    const float theta_scale = powf(base, -2.0f / (float)hp->n_rot);
    const bool yarn = hp->rope_scaling == MODEL_ROPE_SCALING_YARN;
    float lo = 0.0f, hi = 0.0f;
    if (yarn) { /* dimensions below lo extrapolate, above hi interpolate */
        const float n = (float)hp->n_rot, two_pi = 2.0f * (float)M_PI, ln_base = 2.0f * logf(base);
        lo = floorf(n * logf((float)hp->n_ctx_orig / (hp->yarn_beta_fast * two_pi)) / ln_base);
        hi = ceilf(n * logf((float)hp->n_ctx_orig / (hp->yarn_beta_slow * two_pi)) / ln_base);
        if (lo < 0.0f) lo = 0.0f;
        if (hi > n - 1.0f) hi = n - 1.0f;
    }
    float mscale = hp->rope_attn_factor;
    if (yarn) mscale *= 1.0f + 0.1f * logf(1.0f / freq_scale);
    float theta = (float)pos;
    for (int32_t j = 0; j < hp->n_rot; j += 2) {
        const float ff = c->rope_factors ? c->rope_factors[j / 2] : 1.0f;
        const float extrap = theta / ff;
        float t = freq_scale * extrap;
        if (yarn) {
            float y = ((float)(j / 2) - lo) / (hi - lo > 0.001f ? hi - lo : 0.001f);
            float mix = 1.0f - (y < 0.0f ? 0.0f : y > 1.0f ? 1.0f : y);
            t = t * (1.0f - mix) + extrap * mix;
        }
        row[j] = cosf(t) * mscale;
        row[j + 1] = sinf(t) * mscale;
        theta *= theta_scale;
    }
}

/* Rotates the first n_rot values of each of n_heads heads of one token: adjacent pairs (NORM) or the two halves of
 * the rotated part (NEOX). cs holds cos/sin of each pair, in the order of the frequencies. */
static void model__rope_apply(float *x, int32_t n_heads, int32_t hd, int32_t n_rot, arch_rope_t layout,
                              const float *cs) {
    const int32_t half = n_rot / 2;
    for (int32_t h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * hd;
        for (int32_t j = 0; j < n_rot; j += 2) {
            float c = cs[j], s = cs[j + 1];
            int32_t i0 = layout == ARCH_ROPE_NORM ? j : j / 2, i1 = layout == ARCH_ROPE_NORM ? j + 1 : j / 2 + half;
            float a = v[i0], b = v[i1];
            v[i0] = a * c - b * s;
            v[i1] = a * s + b * c;
        }
    }
}

/*
 * The embedding of one batch entry, tokens [first, first + n) of x: their final hidden states (a decoder's after
 * its output RMSNorm, into xb), pooled as the model says (mean, first, last), scaled to unit length (a zero vector
 * stays zero) -> out (d,).
 */
static void model__pool(model_ctx_t *c, int32_t first, int32_t n, float *out) {
    const model_t *m = c->m;
    const model_hparams_t *hp = &m->hp;
    const int32_t d = hp->n_embd;
    const int32_t lo = hp->pooling == MODEL_POOL_LAST ? n - 1 : 0, hi = hp->pooling == MODEL_POOL_CLS ? 1 : n;
    const float *h = c->x + (size_t)first * d;
    if (m->output_norm) { /* the rows pooled, normed */
        for (int32_t i = lo; i < hi; i++)
            kern_rmsnorm(c->x + (size_t)(first + i) * d, m->output_norm, hp->norm_eps, c->xb + (size_t)(first + i) * d, d);
        h = c->xb + (size_t)first * d;
    }
    for (int32_t k = 0; k < d; k++) {
        double sum = 0.0;
        for (int32_t i = lo; i < hi; i++) sum += h[(size_t)i * d + k];
        out[k] = (float)(sum / (double)(hi - lo));
    }
    double sq = 0.0;
    for (int32_t k = 0; k < d; k++) sq += (double)out[k] * out[k];
    const float inv = sq > 0.0 ? (float)(1.0 / sqrt(sq)) : 0.0f;
    for (int32_t k = 0; k < d; k++) out[k] *= inv;
}

/*
 * The per-token work between the matrix products of a layer runs as stages: a stage function takes the tokens
 * [i0, i1) of the batch, and model__stage_run splits the batch over the pool when there is enough of it (a
 * prompt's or many embedding inputs' tokens) or runs it inline (decode steps). Each token's values depend on
 * that token's row alone, so the split does not change a bit of the result.
 */
typedef struct model__stage model__stage_t;
struct model__stage {
    model_ctx_t *c;
    kv_cache_t *kv;
    const model_batch_seq_t *seqs;
    const model_layer_t *L;
    int32_t n_seqs, l, n;
    void (*fn)(const model__stage_t *st, int32_t i0, int32_t i1);
};

/* Below this many values (tokens x the stage's width) a stage runs on the calling thread: a pool run costs a few
 * microseconds, about what the elementwise work of 16k values does. */
#define MODEL_STAGE_PAR_MIN 16384

static void model__stage_worker(void *arg, int ith, int nth) {
    const model__stage_t *st = arg;
    const int32_t per = (st->n + nth - 1) / nth, i0 = per * ith, i1 = i0 + per < st->n ? i0 + per : st->n;
    if (i0 < i1) st->fn(st, i0, i1);
}

/* Runs fn over the batch's st->n tokens, each `width` values wide. */
static void model__stage_run(model__stage_t *st, void (*fn)(const model__stage_t *, int32_t, int32_t), int64_t width) {
    st->fn = fn;
    if ((int64_t)st->n * width < MODEL_STAGE_PAR_MIN || kern_pool_n_threads(st->c->pool) == 1) fn(st, 0, st->n);
    else kern_pool_run(st->c->pool, model__stage_worker, st);
}

/* y (w,) += b (w,) when b is given */
static void model__add_bias_row(float *y, const float *b, int32_t w) {
    if (b)
        for (int32_t j = 0; j < w; j++) y[j] += b[j];
}

/* The attention's input: xb = rmsnorm(x) with the layer's attn_norm. */
static void model__st_attn_norm(const model__stage_t *st, int32_t i0, int32_t i1) {
    const model_ctx_t *c = st->c;
    const int32_t d = c->m->hp.n_embd;
    for (int32_t i = i0; i < i1; i++)
        kern_rmsnorm(c->x + (size_t)i * d, st->L->attn_norm, c->m->hp.norm_eps, c->xb + (size_t)i * d, d);
}

/* After the q/k/v products: the fused product split, biases, per-head norms, RoPE, q scaled and rounded to F16,
 * k and v stored in the cache at the token's position. */
static void model__st_qkv(const model__stage_t *st, int32_t i0, int32_t i1) {
    model_ctx_t *c = st->c;
    const model_t *m = c->m;
    const model_hparams_t *hp = &m->hp;
    const model_layer_t *L = st->L;
    const kv_params_t *kp = kv_params(st->kv);
    const int32_t hd = hp->head_dim;
    const int32_t nq = hp->n_head * hd, nk = hp->n_head_kv * hd, nv = hp->n_head_kv * hp->head_dim_v;
    const float *rope = L->swa && c->rope_swa ? c->rope_swa : c->rope;
    for (int32_t i = i0; i < i1; i++) {
        float *qi = c->q + (size_t)i * nq, *ki = c->kk + (size_t)i * nk, *vi = c->vv + (size_t)i * nv;
        if (L->wqkv.data) { /* [q|k|v] per token */
            const float *r = c->qkv + (size_t)i * (nq + nk + nv);
            memcpy(qi, r, (size_t)nq * sizeof(float));
            memcpy(ki, r + nq, (size_t)nk * sizeof(float));
            memcpy(vi, r + nq + nk, (size_t)nv * sizeof(float));
        }
        model__add_bias_row(qi, L->bq, nq);
        model__add_bias_row(ki, L->bk, nk);
        model__add_bias_row(vi, L->bv, nv);
        if (L->q_norm) {
            for (int32_t h = 0; h < hp->n_head; h++) kern_rmsnorm(qi + (size_t)h * hd, L->q_norm, hp->norm_eps, qi + (size_t)h * hd, hd);
            for (int32_t h = 0; h < hp->n_head_kv; h++) kern_rmsnorm(ki + (size_t)h * hd, L->k_norm, hp->norm_eps, ki + (size_t)h * hd, hd);
        }
        if (!(hp->features & ARCH_F_POS_EMBD)) { /* absolute positions were added to the input instead */
            const float *cs = rope + (size_t)i * hp->n_rot;
            model__rope_apply(qi, hp->n_head, hd, hp->n_rot, m->arch->rope, cs);
            model__rope_apply(ki, hp->n_head_kv, hd, hp->n_rot, m->arch->rope, cs);
        }
        if (hp->q_scale != 1.0f)
            for (int32_t j = 0; j < nq; j++) qi[j] *= hp->q_scale;
        kern_attn_round_f16(qi, nq);
        const kv_seq_t *ks = st->seqs[c->tok_entry[i]].kv;
        int32_t pos = c->tok_pos[i], blk = ks->blocks[pos / kp->block_tokens];
        kern_f32_to_f16(ki, kv_block_k(st->kv, blk, st->l) + (size_t)(pos % kp->block_tokens) * nk, nk);
        kern_f32_to_f16(vi, kv_block_v(st->kv, blk, st->l) + (size_t)(pos % kp->block_tokens) * nv, nv);
    }
}

/* x += y after y's post norm (Gemma: rmsnorm with post; encoders: x = layernorm(x + y) with ln, ln_b) */
static void model__residual_row(const model_hparams_t *hp, float *x, float *y, const float *post, const float *ln,
                                const float *ln_b) {
    const int32_t d = hp->n_embd;
    if (post) kern_rmsnorm(y, post, hp->norm_eps, y, d);
    for (int32_t k = 0; k < d; k++) x[k] += y[k];
    if (ln) kern_layernorm(x, ln, ln_b, hp->norm_eps, x, d);
}

/* After the output projection xb: its bias, the residual, and the FFN's input in xb (normed, or the residual
 * stream itself for post-norm encoders). */
static void model__st_attn_res(const model__stage_t *st, int32_t i0, int32_t i1) {
    model_ctx_t *c = st->c;
    const model_hparams_t *hp = &c->m->hp;
    const model_layer_t *L = st->L;
    const int32_t d = hp->n_embd;
    for (int32_t i = i0; i < i1; i++) {
        float *x = c->x + (size_t)i * d, *y = c->xb + (size_t)i * d;
        model__add_bias_row(y, L->bo, d);
        model__residual_row(hp, x, y, L->attn_post_norm, L->attn_out_norm, L->attn_out_norm_b);
        if (L->ffn_norm) kern_rmsnorm(x, L->ffn_norm, hp->norm_eps, y, d);
        else memcpy(y, x, (size_t)d * sizeof(float));
    }
}

/* The FFN's activation between its products: gelu(up + b_up) in hb (ARCH_F_FFN_SEQ), act(gate) * up from the
 * fused rows of hb into hb2, or act(hb) * hb2 into hb. */
static void model__st_ffn_act(const model__stage_t *st, int32_t i0, int32_t i1) {
    model_ctx_t *c = st->c;
    const model_hparams_t *hp = &c->m->hp;
    const model_layer_t *L = st->L;
    const int32_t f = hp->n_ff;
    const bool gelu = c->m->arch->act == ARCH_ACT_GELU;
    for (int32_t i = i0; i < i1; i++) {
        if (hp->features & ARCH_F_FFN_SEQ) {
            float *h = c->hb + (size_t)i * f;
            model__add_bias_row(h, L->b_up, f);
            kern_gelu(h, h, f);
        } else if (!L->gate.data) {
            const float *r = c->hb + (size_t)i * 2 * f;
            if (gelu) kern_gelu_mul(r, r + f, c->hb2 + (size_t)i * f, f);
            else kern_silu_mul(r, r + f, c->hb2 + (size_t)i * f, f);
        } else {
            float *g = c->hb + (size_t)i * f;
            if (gelu) kern_gelu_mul(g, c->hb2 + (size_t)i * f, g, f);
            else kern_silu_mul(g, c->hb2 + (size_t)i * f, g, f);
        }
    }
}

/* After the FFN's output xb: the dense FFN's b_down, and the residual. */
static void model__st_ffn_res(const model__stage_t *st, int32_t i0, int32_t i1) {
    model_ctx_t *c = st->c;
    const model_hparams_t *hp = &c->m->hp;
    const model_layer_t *L = st->L;
    const int32_t d = hp->n_embd;
    for (int32_t i = i0; i < i1; i++) {
        float *x = c->x + (size_t)i * d, *y = c->xb + (size_t)i * d;
        if (hp->n_expert == 0) model__add_bias_row(y, L->b_down, d);
        model__residual_row(hp, x, y, L->ffn_post_norm, L->out_norm, L->out_norm_b);
    }
}

/*
 * The attention block of layer l: xb = rmsnorm(x); q, k, v = xb @ W^T (+ biases); per-head norms; RoPE; q scaled and
 * rounded to F16 (the cache's precision, as llama.cpp's attention reads it); k and v stored in the cache; attend;
 * xb = att @ Wo^T (its bias comes with the residual, model__st_attn_res).
 */
static int model__attn_block(model__stage_t *st) {
    model_ctx_t *c = st->c;
    const model_hparams_t *hp = &c->m->hp;
    const model_layer_t *L = st->L;
    const int32_t n = st->n;
    int rc;
    const float *in = c->x; /* encoders (post-norm) project the residual stream itself */
    if (L->attn_norm) {
        model__stage_run(st, model__st_attn_norm, hp->n_embd);
        in = c->xb;
    }
    if (L->wqkv.data) { /* one product, then split [q|k|v] per token */
        if ((rc = kern_matmul(c->k, &L->wqkv, in, n, c->qkv))) return rc;
    } else {
        const kern_weight_t *qkv[3] = {&L->wq, &L->wk, &L->wv};
        float *qkv_out[3] = {c->q, c->kk, c->vv};
        if ((rc = kern_matmul_multi(c->k, qkv, 3, in, n, qkv_out))) return rc;
    }
    model__stage_run(st, model__st_qkv, (int64_t)(hp->n_head + 2 * hp->n_head_kv) * hp->head_dim);
    model__attention(c, st->kv, st->seqs, st->n_seqs, st->l, n);
    return kern_matmul(c->k, &L->wo, c->att, n, c->xb);
}

/* The dense FFN of layer L: xb (n, d) normed -> xb = act(xb @ Wg^T) * (xb @ Wu^T) @ Wd^T, or with ARCH_F_FFN_SEQ
 * xb = gelu(xb @ Wu^T + b_up) @ Wd^T (b_down comes with the residual, model__st_ffn_res). */
static int model__ffn(model__stage_t *st) {
    model_ctx_t *c = st->c;
    const model_layer_t *L = st->L;
    const int32_t n = st->n, f = c->m->hp.n_ff;
    const bool seq = c->m->hp.features & ARCH_F_FFN_SEQ, fused = !seq && !L->gate.data; /* fused: [gate|up] rows */
    int rc;
    if (seq || fused) { /* one product */
        if ((rc = kern_matmul(c->k, &L->up, c->xb, n, c->hb))) return rc;
    } else {
        const kern_weight_t *gu[2] = {&L->gate, &L->up};
        float *gu_out[2] = {c->hb, c->hb2};
        if ((rc = kern_matmul_multi(c->k, gu, 2, c->xb, n, gu_out))) return rc;
    }
    model__stage_run(st, model__st_ffn_act, (int64_t)2 * f);
    return kern_matmul(c->k, &L->down, fused ? c->hb2 : c->hb, n, c->xb);
}

int model_forward_batch(model_ctx_t *c, kv_cache_t *kv, const model_batch_seq_t *seqs, int32_t n_seqs,
                        float *logits) {
    const model_t *m = c->m;
    const model_hparams_t *hp = &m->hp;
    const kv_params_t *kp = kv_params(kv);
    const int32_t d = hp->n_embd;
    if (n_seqs <= 0 || n_seqs > c->max_batch || kp->n_layer != hp->n_layer || kp->k_dim != hp->n_head_kv * hp->head_dim ||
        kp->v_dim != hp->n_head_kv * hp->head_dim_v)
        return ERR_INVAL;

    /* lay out the tokens: entry and position of each, checking everything before touching the cache */
    int32_t n = 0, n_out = 0;
    for (int32_t e = 0; e < n_seqs; e++) {
        const model_batch_seq_t *bs = &seqs[e];
        if (bs->n <= 0 || bs->n > c->max_batch - n) return ERR_INVAL;
        if (bs->n_logits != 0 && bs->n_logits != 1 && bs->n_logits != bs->n) return ERR_INVAL;
        if (bs->n_logits && hp->pooling != MODEL_POOL_NONE) return ERR_INVAL; /* embedding models have no head */
        if (bs->embd && (hp->pooling == MODEL_POOL_NONE || bs->kv->n_tokens != 0)) return ERR_INVAL;
        if (hp->features & ARCH_F_POS_EMBD && bs->kv->n_tokens + bs->n > hp->n_ctx_train) return ERR_CONTEXT;
        if (bs->kv->n_tokens + bs->n > c->max_ctx) return ERR_CONTEXT;
        if (kv_seq_blocks_needed(kv, bs->kv, bs->n) != 0) return ERR_INVAL;
        c->entry_first[e] = n;
        for (int32_t i = 0; i < bs->n; i++) {
            if (bs->tokens[i] < 0 || bs->tokens[i] >= hp->n_vocab) return ERR_INVAL;
            c->tok_entry[n] = e;
            c->tok_pos[n] = bs->kv->n_tokens + i;
            n++;
        }
        n_out += bs->n_logits;
    }
    if (n_out > c->max_batch) return ERR_INVAL;

    int rc;
    for (int32_t i = 0, e = 0, j = 0; i < n; i++) {
        if (j == seqs[e].n) e++, j = 0;
        float *xi = c->x + (size_t)i * d;
        if ((rc = kern_get_row(&m->tok_embd, seqs[e].tokens[j++], xi))) return rc;
        if (hp->embd_scale != 1.0f)
            for (int32_t k = 0; k < d; k++) xi[k] *= hp->embd_scale;
        if (m->type_embd)
            for (int32_t k = 0; k < d; k++) xi[k] += m->type_embd[k];
        if (m->pos_embd.data) { /* absolute position: its row added (xb is free until the first layer) */
            float *p = c->xb + (size_t)i * d;
            if ((rc = kern_get_row(&m->pos_embd, c->tok_pos[i], p))) return rc;
            for (int32_t k = 0; k < d; k++) xi[k] += p[k];
        }
        if (m->tok_norm) kern_layernorm(xi, m->tok_norm, m->tok_norm_b, hp->norm_eps, xi, d);
        model__rope_row(c, hp->rope_freq_base, hp->rope_freq_scale, c->tok_pos[i], c->rope + (size_t)i * hp->n_rot);
        if (c->rope_swa)
            model__rope_row(c, hp->rope_freq_base_swa, hp->rope_freq_scale_swa, c->tok_pos[i],
                            c->rope_swa + (size_t)i * hp->n_rot);
    }

    model__stage_t st = {.c = c, .kv = kv, .seqs = seqs, .n_seqs = n_seqs, .n = n};
    for (int32_t l = 0; l < hp->n_layer; l++) {
        st.L = &m->layers[l];
        st.l = l;
        if ((rc = model__attn_block(&st))) return rc;
        model__stage_run(&st, model__st_attn_res, (int64_t)2 * d);
        if (hp->n_expert > 0) rc = model__moe_ffn(c, st.L, c->xb, n, c->xb);
        else rc = model__ffn(&st);
        if (rc) return rc;
        model__stage_run(&st, model__st_ffn_res, d);
    }

    for (int32_t e = 0; e < n_seqs; e++)
        if (seqs[e].embd) model__pool(c, c->entry_first[e], seqs[e].n, seqs[e].embd);
    if (n_out == 0 || !logits) return 0;
    int32_t row = 0;
    for (int32_t e = 0, first = 0; e < n_seqs; first += seqs[e].n, e++) {
        for (int32_t i = seqs[e].n - seqs[e].n_logits; i < seqs[e].n; i++, row++)
            kern_rmsnorm(c->x + (size_t)(first + i) * d, m->output_norm, hp->norm_eps, c->xb + (size_t)row * d, d);
    }
    if ((rc = kern_matmul(c->k, &m->output, c->xb, n_out, logits))) return rc;
    if (hp->final_softcap > 0.0f) { /* cap * tanh(z / cap), in llama.cpp's order of operations */
        const float cap = hp->final_softcap, inv = 1.0f / cap;
        for (size_t i = 0; i < (size_t)n_out * hp->n_vocab; i++) logits[i] = tanhf(logits[i] * inv) * cap;
    }
    return 0;
}

int model_forward(model_ctx_t *c, model_seq_t *s, const int32_t *tokens, int32_t n, bool all_logits,
                  float *logits) {
    if (n <= 0 || n > c->max_batch) return ERR_INVAL;
    int32_t pos = s->seq.n_tokens;
    if (pos + n > s->n_ctx) return ERR_CONTEXT;
    int rc = kv_seq_reserve(s->kv, &s->seq, n);
    if (rc) return rc == ERR_FULL ? ERR_CONTEXT : rc;
    model_batch_seq_t bs = {.kv = &s->seq, .tokens = tokens, .n = n, .n_logits = logits ? (all_logits ? n : 1) : 0};
    rc = model_forward_batch(c, s->kv, &bs, 1, logits);
    if (rc) return rc;
    memcpy(s->tokens + pos, tokens, (size_t)n * sizeof *tokens);
    return kv_seq_commit(s->kv, &s->seq, s->tokens, n);
}
