/*
 * model.c — loading a llama-architecture GGUF and running its forward pass over a batch of tokens.
 *
 * Shapes below use n = tokens in the batch, d = n_embd, hd = head_dim, nq = n_head*hd, nkv = n_head_kv*hd,
 * f = n_ff, V = n_vocab. Weight matrices are W (out, in) as GGUF stores them (ne[0] = in is contiguous).
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attn.h"
#include "err.h"
#include "kernels/kern.h"
#include "weights_check.h"

typedef struct {
    kern_weight_t wq, wk, wv, wo;   /* (nq, d), (nkv, d), (nkv, d), (d, nq) */
    kern_weight_t gate, up, down;   /* (f, d), (f, d), (d, f) */
    float *attn_norm, *ffn_norm;    /* (d,) owned F32 copies */
} model_layer_t;

struct model {
    gguf_t *g;
    tok_t *tok;
    model_hparams_t hp;
    kern_weight_t tok_embd; /* (V, d) */
    kern_weight_t output;   /* (V, d); the embedding when tied */
    float *output_norm;     /* (d,) */
    float *rope_freqs;      /* (n_rot/2,) frequency divisors (Llama 3.1 style), or NULL */
    model_layer_t *layers;  /* n_layer */
    uint64_t weight_bytes;
    const char *weight_type;
};

/* A sequence with a private paged cache just big enough for n_ctx positions. */
struct model_seq {
    int32_t n_ctx;     /* capacity in positions */
    kv_cache_t *kv;    /* ceil(n_ctx / MODEL_SEQ_BLOCK) blocks */
    kv_seq_t seq;      /* its block table */
    int32_t *tokens;   /* (n_ctx,) ids at each position, for kv_seq_commit */
};

#define MODEL_SEQ_BLOCK 16

/* Prompt chunks of at least this many tokens run attention as matrix products (per head: S = Q K^T, O = P V);
 * shorter ones, decode tokens above all, run the per-token loop. */
#define MODEL_ATTN_GEMM_MIN 8

struct model_ctx {
    const model_t *m;
    kern_pool_t *pool;
    kern_ctx_t *k;
    int32_t max_batch, max_ctx;
    float *x;      /* (max_batch, d) residual stream */
    float *xb;     /* (max_batch, d) normed input / projection output */
    float *q;      /* (max_batch, nq) */
    float *kk, *vv;/* (max_batch, nkv) */
    float *att;    /* (max_batch, nq) attention output */
    float *hb, *hb2; /* (max_batch, f) */
    float *scores; /* (n_threads, n_head / n_head_kv, max_ctx) */
    float *tile;   /* (n_threads, MODEL_TILE_FLOATS) prefill attention: scores tile + K and V as F32 */
    size_t tile_floats;
    float *rope;   /* (max_batch, n_rot) cos/sin pairs */
    int32_t *tok_entry, *tok_pos; /* (max_batch,) batch entry and position of each token */
    int32_t *entry_first;         /* (max_batch,) first token of each batch entry */
};

/* ---- loading ---------------------------------------------------------------------------------------------- */

static int model__get_i32(const gguf_t *g, const char *arch, const char *suffix, bool required, int32_t dflt,
                          int32_t *out, char *err, size_t err_len) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = gguf_get_i32(g, key, out);
    if (rc == ERR_NOTFOUND && !required) {
        *out = dflt;
        return 0;
    }
    if (rc == ERR_NOTFOUND)
        return err_set(err, err_len, ERR_FORMAT, "%s: missing required key '%s'", gguf_name(g), key);
    if (rc != 0)
        return err_set(err, err_len, ERR_FORMAT, "%s: key '%s' is not a valid integer", gguf_name(g), key);
    return 0;
}

static int model__get_f32(const gguf_t *g, const char *arch, const char *suffix, bool required, float dflt,
                          float *out, char *err, size_t err_len) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = gguf_get_f32(g, key, out);
    if (rc == ERR_NOTFOUND && !required) {
        *out = dflt;
        return 0;
    }
    if (rc == ERR_NOTFOUND)
        return err_set(err, err_len, ERR_FORMAT, "%s: missing required key '%s'", gguf_name(g), key);
    if (rc != 0) return err_set(err, err_len, ERR_FORMAT, "%s: key '%s' is not a number", gguf_name(g), key);
    return 0;
}

static int model__read_hparams(model_t *m, char *err, size_t err_len) {
    const gguf_t *g = m->g;
    model_hparams_t *hp = &m->hp;
    gguf_str_t arch_s;
    if (gguf_get_str(g, "general.architecture", &arch_s) != 0)
        return err_set(err, err_len, ERR_FORMAT, "%s: missing required key 'general.architecture'", gguf_name(g));
    if (!gguf_str_eq(arch_s, "llama"))
        return err_set(err, err_len, ERR_UNSUPPORTED,
                       "%s: architecture '%.*s' is not supported (cinder runs the 'llama' architecture)",
                       gguf_name(g), (int)(arch_s.len > 64 ? 64 : arch_s.len), arch_s.ptr);
    const char *a = "llama";
    int rc;
    int32_t expert_count = 0;
    if ((rc = model__get_i32(g, a, "expert_count", false, 0, &expert_count, err, err_len))) return rc;
    if (expert_count > 0)
        return err_set(err, err_len, ERR_UNSUPPORTED, "%s: mixture-of-experts models (llama.expert_count = %d) "
                       "are not supported", gguf_name(g), expert_count);
    if ((rc = model__get_i32(g, a, "context_length", true, 0, &hp->n_ctx_train, err, err_len))) return rc;
    if ((rc = model__get_i32(g, a, "embedding_length", true, 0, &hp->n_embd, err, err_len))) return rc;
    if ((rc = model__get_i32(g, a, "block_count", true, 0, &hp->n_layer, err, err_len))) return rc;
    if ((rc = model__get_i32(g, a, "feed_forward_length", true, 0, &hp->n_ff, err, err_len))) return rc;
    if ((rc = model__get_i32(g, a, "attention.head_count", true, 0, &hp->n_head, err, err_len))) return rc;
    if ((rc = model__get_i32(g, a, "attention.head_count_kv", false, hp->n_head, &hp->n_head_kv, err, err_len)))
        return rc;
    if ((rc = model__get_f32(g, a, "attention.layer_norm_rms_epsilon", true, 0, &hp->norm_eps, err, err_len)))
        return rc;
    if ((rc = model__get_f32(g, a, "rope.freq_base", false, 10000.0f, &hp->rope_freq_base, err, err_len)))
        return rc;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0 ||
        hp->n_ctx_train <= 0 || hp->n_embd > 65536 || hp->n_layer > 1024 || hp->n_head > 1024 || hp->n_ff > 1 << 20)
        return err_set(err, err_len, ERR_FORMAT, "%s: hyperparameters out of range (n_embd %d, n_layer %d, "
                       "n_ff %d, n_head %d, n_head_kv %d, context_length %d)", gguf_name(g), hp->n_embd,
                       hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv, hp->n_ctx_train);
    if (hp->n_head % hp->n_head_kv != 0)
        return err_set(err, err_len, ERR_FORMAT, "%s: head_count %d is not a multiple of head_count_kv %d",
                       gguf_name(g), hp->n_head, hp->n_head_kv);
    int32_t dflt_hd = hp->n_embd % hp->n_head == 0 ? hp->n_embd / hp->n_head : 0;
    int32_t key_len, val_len;
    if ((rc = model__get_i32(g, a, "attention.key_length", false, dflt_hd, &key_len, err, err_len))) return rc;
    if ((rc = model__get_i32(g, a, "attention.value_length", false, dflt_hd, &val_len, err, err_len))) return rc;
    if (key_len <= 0 || key_len != val_len || key_len % 2 != 0 || key_len > 1024)
        return err_set(err, err_len, ERR_UNSUPPORTED, "%s: head size (key_length %d, value_length %d) is not "
                       "supported", gguf_name(g), key_len, val_len);
    hp->head_dim = key_len;
    if ((rc = model__get_i32(g, a, "rope.dimension_count", false, hp->head_dim, &hp->n_rot, err, err_len)))
        return rc;
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return err_set(err, err_len, ERR_FORMAT, "%s: rope.dimension_count %d is invalid for head size %d",
                       gguf_name(g), hp->n_rot, hp->head_dim);
    if (!(hp->norm_eps > 0.0f && hp->norm_eps < 1.0f) || !(hp->rope_freq_base > 0.0f) ||
        !isfinite(hp->rope_freq_base))
        return err_set(err, err_len, ERR_FORMAT, "%s: rms epsilon %g or rope freq base %g out of range",
                       gguf_name(g), hp->norm_eps, hp->rope_freq_base);

    hp->rope_freq_scale = 1.0f;
    gguf_str_t scaling;
    if (gguf_get_str(g, "llama.rope.scaling.type", &scaling) == 0 && !gguf_str_eq(scaling, "none")) {
        if (!gguf_str_eq(scaling, "linear"))
            return err_set(err, err_len, ERR_UNSUPPORTED, "%s: rope scaling type '%.*s' is not supported",
                           gguf_name(g), (int)(scaling.len > 32 ? 32 : scaling.len), scaling.ptr);
        float factor = 1.0f;
        if ((rc = model__get_f32(g, a, "rope.scaling.factor", false, 1.0f, &factor, err, err_len))) return rc;
        if (!(factor > 0.0f) || !isfinite(factor))
            return err_set(err, err_len, ERR_FORMAT, "%s: rope.scaling.factor %g is invalid", gguf_name(g), factor);
        hp->rope_freq_scale = 1.0f / factor;
    }
    return 0;
}

/* Finds a tensor and checks its shape: ne0 (contiguous, "in") and ne1 ("out", 1 for vectors). */
static int model__tensor(model_t *m, const char *name, int64_t ne0, int64_t ne1, bool required,
                         const gguf_tensor_t **out, char *err, size_t err_len) {
    const gguf_tensor_t *t = gguf_find_tensor(m->g, name);
    *out = t;
    if (!t) {
        if (!required) return 0;
        return err_set(err, err_len, ERR_FORMAT, "%s: missing tensor '%s'", gguf_name(m->g), name);
    }
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
        return err_set(err, err_len, ERR_FORMAT,
                       "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", gguf_name(m->g),
                       name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                       (long long)ne0, (long long)ne1);
    return 0;
}

static int model__matrix(model_t *m, const char *name, int64_t in, int64_t outd, bool required, kern_weight_t *w,
                         char *err, size_t err_len) {
    const gguf_tensor_t *t;
    int rc = model__tensor(m, name, in, outd, required, &t, err, err_len);
    if (rc || !t) return rc;
    w->type = t->type;
    w->rows = outd;
    w->cols = in;
    w->data = t->data;
    w->row_bytes = (size_t)dtype_row_bytes(t->type, in);
    m->weight_bytes += t->n_bytes;
    return 0;
}

static int model__vector(model_t *m, const char *name, int64_t n, bool required, float **out, char *err,
                         size_t err_len) {
    const gguf_tensor_t *t;
    *out = NULL;
    int rc = model__tensor(m, name, n, 1, required, &t, err, err_len);
    if (rc || !t) return rc;
    float *v = malloc((size_t)n * sizeof(float));
    if (!v) return err_set(err, err_len, ERR_NOMEM, "%s: out of memory", gguf_name(m->g));
    if (kern_dequant(t->type, t->data, v, n) != 0) {
        free(v);
        return err_set(err, err_len, ERR_FORMAT, "%s: cannot read tensor '%s'", gguf_name(m->g), name);
    }
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            free(v);
            return err_set(err, err_len, ERR_FORMAT, "%s: tensor '%s' holds a non-finite value", gguf_name(m->g),
                           name);
        }
    }
    m->weight_bytes += t->n_bytes;
    *out = v;
    return 0;
}

static int model__load_tensors(model_t *m, char *err, size_t err_len) {
    const model_hparams_t *hp = &m->hp;
    int64_t d = hp->n_embd, V = hp->n_vocab, f = hp->n_ff;
    int64_t nq = (int64_t)hp->n_head * hp->head_dim, nkv = (int64_t)hp->n_head_kv * hp->head_dim;
    int rc;
    if ((rc = model__matrix(m, "token_embd.weight", d, V, true, &m->tok_embd, err, err_len))) return rc;
    if ((rc = model__vector(m, "output_norm.weight", d, true, &m->output_norm, err, err_len))) return rc;
    m->output.data = NULL;
    if ((rc = model__matrix(m, "output.weight", d, V, false, &m->output, err, err_len))) return rc;
    m->hp.tied_output = m->output.data == NULL;
    if (m->hp.tied_output) m->output = m->tok_embd;
    if ((rc = model__vector(m, "rope_freqs.weight", hp->n_rot / 2, false, &m->rope_freqs, err, err_len))) return rc;

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return err_set(err, err_len, ERR_NOMEM, "%s: out of memory", gguf_name(m->g));
    for (int32_t l = 0; l < hp->n_layer; l++) {
        model_layer_t *L = &m->layers[l];
        char name[96];
#define MODEL__MAT(field, suffix, in, outd)                                                              \
    snprintf(name, sizeof name, "blk.%d." suffix, l);                                                     \
    if ((rc = model__matrix(m, name, in, outd, true, &L->field, err, err_len))) return rc;
#define MODEL__VEC(field, suffix)                                                                        \
    snprintf(name, sizeof name, "blk.%d." suffix, l);                                                     \
    if ((rc = model__vector(m, name, d, true, &L->field, err, err_len))) return rc;
        MODEL__VEC(attn_norm, "attn_norm.weight")
        MODEL__MAT(wq, "attn_q.weight", d, nq)
        MODEL__MAT(wk, "attn_k.weight", d, nkv)
        MODEL__MAT(wv, "attn_v.weight", d, nkv)
        MODEL__MAT(wo, "attn_output.weight", nq, d)
        MODEL__VEC(ffn_norm, "ffn_norm.weight")
        MODEL__MAT(gate, "ffn_gate.weight", d, f)
        MODEL__MAT(up, "ffn_up.weight", d, f)
        MODEL__MAT(down, "ffn_down.weight", f, d)
#undef MODEL__MAT
#undef MODEL__VEC
    }
    return 0;
}

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
    if ((rc = model__read_hparams(m, err, err_len))) goto fail;
    if ((rc = tok_load(m->g, &m->tok, err, err_len))) goto fail;
    m->hp.n_vocab = tok_n_vocab(m->tok);
    if ((rc = model__load_tensors(m, err, err_len))) goto fail;
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
            free(m->layers[l].attn_norm);
            free(m->layers[l].ffn_norm);
        }
        free(m->layers);
    }
    free(m->output_norm);
    free(m->rope_freqs);
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
uint64_t model_weight_bytes(const model_t *m) { return m->weight_bytes; }
const char *model_weight_type(const model_t *m) { return m->weight_type; }

/* ---- contexts and single sequences ----------------------------------------------------------------------- */

kv_params_t model_kv_params(const model_t *m, int32_t block_tokens, int32_t n_blocks) {
    kv_params_t p = {.n_layer = m->hp.n_layer,
                     .kv_dim = m->hp.n_head_kv * m->hp.head_dim,
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
    size_t B = (size_t)max_batch, d = (size_t)hp->n_embd, f = (size_t)hp->n_ff;
    size_t nq = (size_t)hp->n_head * hp->head_dim, nkv = (size_t)hp->n_head_kv * hp->head_dim;
    int64_t max_cols = hp->n_embd;
    if (hp->n_ff > max_cols) max_cols = hp->n_ff;
    if ((int64_t)nq > max_cols) max_cols = (int64_t)nq;
    int64_t max_rows = hp->n_vocab;
    if (hp->n_ff > max_rows) max_rows = hp->n_ff;
    if ((int64_t)nq > max_rows) max_rows = (int64_t)nq;
    int rc = kern_pool_create(n_threads, &c->pool);
    if (rc) goto fail;
    rc = kern_ctx_create(c->pool, max_cols, max_rows, max_batch, &c->k);
    if (rc) goto fail;
    rc = ERR_NOMEM;
    c->x = malloc(B * d * sizeof(float));
    c->xb = malloc(B * d * sizeof(float));
    c->q = malloc(B * nq * sizeof(float));
    c->kk = malloc(B * nkv * sizeof(float));
    c->vv = malloc(B * nkv * sizeof(float));
    c->att = malloc(B * nq * sizeof(float));
    c->hb = malloc(B * f * sizeof(float));
    c->hb2 = malloc(B * f * sizeof(float));
    c->scores = malloc((size_t)n_threads * (size_t)(m->hp.n_head / m->hp.n_head_kv) * (size_t)max_ctx * sizeof(float));
    /* per thread: K and V of one head as F32 (max_ctx, hd) each, and a scores tile of at least 64 query rows */
    size_t qrows = (size_t)(max_batch < 64 ? max_batch : 64);
    c->tile_floats = 2 * (size_t)max_ctx * hp->head_dim + qrows * (size_t)max_ctx;
    c->tile = malloc((size_t)n_threads * c->tile_floats * sizeof(float));
    c->rope = malloc(B * (size_t)hp->n_rot * sizeof(float));
    c->tok_entry = malloc(B * sizeof(int32_t));
    c->tok_pos = malloc(B * sizeof(int32_t));
    c->entry_first = malloc(B * sizeof(int32_t));
    if (!c->x || !c->xb || !c->q || !c->kk || !c->vv || !c->att || !c->hb || !c->hb2 || !c->scores || !c->tile || !c->rope ||
        !c->tok_entry || !c->tok_pos || !c->entry_first)
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
    free(c->att);
    free(c->hb);
    free(c->hb2);
    free(c->scores);
    free(c->tile);
    free(c->rope);
    free(c->tok_entry);
    free(c->tok_pos);
    free(c->entry_first);
    free(c);
}

int model_ctx_n_threads(const model_ctx_t *c) { return kern_pool_n_threads(c->pool); }

/* ---- forward pass ----------------------------------------------------------------------------------------- */

/* cos/sin pairs (n_rot,) for position pos, with theta computed as llama.cpp does (float, by repeated
 * multiplication) so that rotations agree to the last bit. */
static void model__rope_row(const model_t *m, int32_t pos, float *row) {
    const model_hparams_t *hp = &m->hp;
    const float theta_scale = powf(hp->rope_freq_base, -2.0f / (float)hp->n_rot);
    float theta = (float)pos;
    for (int32_t j = 0; j < hp->n_rot; j += 2) {
        float ff = m->rope_freqs ? m->rope_freqs[j / 2] : 1.0f;
        float t = hp->rope_freq_scale * (theta / ff);
        row[j] = cosf(t);
        row[j + 1] = sinf(t);
        theta *= theta_scale;
    }
}

/* Rotates adjacent pairs of the first n_rot values of each of n_heads heads of one token. */
static void model__rope_apply(float *x, int32_t n_heads, int32_t hd, int32_t n_rot, const float *cs) {
    for (int32_t h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * hd;
        for (int32_t j = 0; j < n_rot; j += 2) {
            float c = cs[j], s = cs[j + 1];
            float a = v[j], b = v[j + 1];
            v[j] = a * c - b * s;
            v[j + 1] = a * s + b * c;
        }
    }
}

typedef struct {
    model_ctx_t *c;
    kv_cache_t *kv;
    const model_batch_seq_t *seqs;
    int32_t n_seqs, layer, n;
    int32_t *first; /* (n_seqs,) index of each entry's first token in the batch */
} model__attn_job_t;

/*
 * One (token, key/value head): a token at position p attends to positions 0..p of its own sequence, block by
 * block, for the G query heads that share the key/value head (grouped-query attention), each cache row read once
 * for all G. scores holds G rows of max_ctx.
 */
static void model__attn_token(const model__attn_job_t *job, int32_t i, int32_t kvh, float *scores) {
    const model_hparams_t *hp = &job->c->m->hp;
    const int32_t hd = hp->head_dim, nq = hp->n_head * hd, G = hp->n_head / hp->n_head_kv;
    const kv_params_t *kp = kv_params(job->kv);
    const int32_t bt = kp->block_tokens;
    const size_t stride = (size_t)kp->kv_dim, ss = (size_t)job->c->max_ctx;
    const float scale = 1.0f / sqrtf((float)hd);
    const kv_seq_t *ks = job->seqs[job->c->tok_entry[i]].kv;
    const int32_t n_pos = job->c->tok_pos[i] + 1;
    const size_t head_off = (size_t)kvh * hd;
    const float *q = job->c->q + (size_t)i * nq + (size_t)kvh * G * hd;
    float *out = job->c->att + (size_t)i * nq + (size_t)kvh * G * hd;
    for (int32_t t0 = 0, b = 0; t0 < n_pos; t0 += bt, b++) {
        int32_t nb = n_pos - t0 < bt ? n_pos - t0 : bt;
        attn_scores_heads(q, G, kv_block_k(job->kv, ks->blocks[b], job->layer) + head_off, stride, nb, hd, scale,
                          scores + t0, ss);
    }
    for (int32_t g = 0; g < G; g++)
        kern_softmax(scores + (size_t)g * ss, n_pos);
    memset(out, 0, (size_t)G * hd * sizeof(float));
    for (int32_t t0 = 0, b = 0; t0 < n_pos; t0 += bt, b++) {
        int32_t nb = n_pos - t0 < bt ? n_pos - t0 : bt;
        attn_accum_heads(scores + t0, ss, G, kv_block_v(job->kv, ks->blocks[b], job->layer) + head_off, stride, nb,
                         hd, out);
    }
}

/* One (prompt chunk, head) as matrix products: K and V of the head's positions are widened to F32 once, then
 * for tiles of query rows S = scale * Q K^T, a causal softmax per row, and O = P V. */
static void model__attn_chunk(const model__attn_job_t *job, int32_t e, int32_t h, float *tile) {
    const model_ctx_t *c = job->c;
    const model_hparams_t *hp = &c->m->hp;
    const int32_t hd = hp->head_dim, nq = hp->n_head * hd;
    const kv_params_t *kp = kv_params(job->kv);
    const int32_t bt = kp->block_tokens;
    const model_batch_seq_t *bs = &job->seqs[e];
    const int32_t first = job->first[e], p0 = c->tok_pos[first], n_k = p0 + bs->n;
    const size_t head_off = (size_t)(h / (hp->n_head / hp->n_head_kv)) * hd;
    float *kf = tile, *vf = tile + (size_t)n_k * hd, *sc = vf + (size_t)n_k * hd;
    for (int32_t t = 0; t < n_k; t++) {
        int32_t blk = bs->kv->blocks[t / bt];
        size_t off = (size_t)(t % bt) * kp->kv_dim + head_off;
        kern_f16_to_f32(kv_block_k(job->kv, blk, job->layer) + off, kf + (size_t)t * hd, hd);
        kern_f16_to_f32(kv_block_v(job->kv, blk, job->layer) + off, vf + (size_t)t * hd, hd);
    }
    const int32_t rows = (int32_t)((c->tile_floats - 2 * (size_t)c->max_ctx * hd) / (size_t)c->max_ctx);
    const float scale = 1.0f / sqrtf((float)hd);
    for (int32_t r0 = 0; r0 < bs->n; r0 += rows) {
        int32_t m = bs->n - r0 < rows ? bs->n - r0 : rows;
        int32_t n_cols = p0 + r0 + m; /* keys any row of this tile may see */
        const float *q = c->q + (size_t)(first + r0) * nq + (size_t)h * hd;
        kern_sgemm_nt(m, n_cols, hd, scale, q, nq, kf, hd, sc, n_cols);
        for (int32_t i = 0; i < m; i++) {
            float *row = sc + (size_t)i * n_cols;
            int32_t n_pos = p0 + r0 + i + 1;
            kern_softmax(row, n_pos);
            if (n_pos < n_cols) memset(row + n_pos, 0, (size_t)(n_cols - n_pos) * sizeof(float));
        }
        kern_sgemm_nn(m, hd, n_cols, 1.0f, sc, n_cols, vf, hd, 0.0f, c->att + (size_t)(first + r0) * nq + (size_t)h * hd,
                      nq);
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
    float *scores = c->scores + (size_t)ith * (size_t)(n_head / n_kv) * c->max_ctx;
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

int model_forward_batch(model_ctx_t *c, kv_cache_t *kv, const model_batch_seq_t *seqs, int32_t n_seqs,
                        float *logits) {
    const model_t *m = c->m;
    const model_hparams_t *hp = &m->hp;
    const kv_params_t *kp = kv_params(kv);
    const int32_t d = hp->n_embd, hd = hp->head_dim, f = hp->n_ff;
    const int32_t nq = hp->n_head * hd, nkv = hp->n_head_kv * hd;
    if (n_seqs <= 0 || n_seqs > c->max_batch || kp->n_layer != hp->n_layer || kp->kv_dim != nkv) return ERR_INVAL;

    /* lay out the tokens: entry and position of each, checking everything before touching the cache */
    int32_t n = 0, n_out = 0;
    for (int32_t e = 0; e < n_seqs; e++) {
        const model_batch_seq_t *bs = &seqs[e];
        if (bs->n <= 0 || bs->n > c->max_batch - n) return ERR_INVAL;
        if (bs->n_logits != 0 && bs->n_logits != 1 && bs->n_logits != bs->n) return ERR_INVAL;
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
        if ((rc = kern_get_row(&m->tok_embd, seqs[e].tokens[j++], c->x + (size_t)i * d))) return rc;
        model__rope_row(m, c->tok_pos[i], c->rope + (size_t)i * hp->n_rot);
    }

    for (int32_t l = 0; l < hp->n_layer; l++) {
        const model_layer_t *L = &m->layers[l];
        /* attention block: xb = rmsnorm(x); q,k,v = xb @ W^T; rope; cache; attend; x += att @ Wo^T */
        for (int32_t i = 0; i < n; i++)
            kern_rmsnorm(c->x + (size_t)i * d, L->attn_norm, hp->norm_eps, c->xb + (size_t)i * d, d);
        const kern_weight_t *qkv[3] = {&L->wq, &L->wk, &L->wv};
        float *qkv_out[3] = {c->q, c->kk, c->vv};
        if ((rc = kern_matmul_multi(c->k, qkv, 3, c->xb, n, qkv_out))) return rc;
        for (int32_t i = 0; i < n; i++) {
            const float *cs = c->rope + (size_t)i * hp->n_rot;
            float *qi = c->q + (size_t)i * nq;
            model__rope_apply(qi, hp->n_head, hd, hp->n_rot, cs);
            attn_round_f16(qi, nq);
            model__rope_apply(c->kk + (size_t)i * nkv, hp->n_head_kv, hd, hp->n_rot, cs);
            const kv_seq_t *ks = seqs[c->tok_entry[i]].kv;
            int32_t pos = c->tok_pos[i], blk = ks->blocks[pos / kp->block_tokens];
            size_t off = (size_t)(pos % kp->block_tokens) * nkv;
            kern_f32_to_f16(c->kk + (size_t)i * nkv, kv_block_k(kv, blk, l) + off, nkv);
            kern_f32_to_f16(c->vv + (size_t)i * nkv, kv_block_v(kv, blk, l) + off, nkv);
        }
        model__attn_job_t job = {.c = c, .kv = kv, .seqs = seqs, .n_seqs = n_seqs, .layer = l, .n = n,
                                 .first = c->entry_first};
        kern_pool_run(c->pool, model__attn_worker, &job);
        if ((rc = kern_matmul(c->k, &L->wo, c->att, n, c->xb))) return rc;
        for (size_t i = 0; i < (size_t)n * d; i++) c->x[i] += c->xb[i];

        /* FFN block: xb = rmsnorm(x); x += (silu(xb @ Wg^T) * (xb @ Wu^T)) @ Wd^T */
        for (int32_t i = 0; i < n; i++)
            kern_rmsnorm(c->x + (size_t)i * d, L->ffn_norm, hp->norm_eps, c->xb + (size_t)i * d, d);
        const kern_weight_t *gu[2] = {&L->gate, &L->up};
        float *gu_out[2] = {c->hb, c->hb2};
        if ((rc = kern_matmul_multi(c->k, gu, 2, c->xb, n, gu_out))) return rc;
        kern_silu_mul(c->hb, c->hb2, c->hb, (int64_t)n * f);
        if ((rc = kern_matmul(c->k, &L->down, c->hb, n, c->xb))) return rc;
        for (size_t i = 0; i < (size_t)n * d; i++) c->x[i] += c->xb[i];
    }

    if (n_out == 0 || !logits) return 0;
    int32_t row = 0;
    for (int32_t e = 0, first = 0; e < n_seqs; first += seqs[e].n, e++) {
        for (int32_t i = seqs[e].n - seqs[e].n_logits; i < seqs[e].n; i++, row++)
            kern_rmsnorm(c->x + (size_t)(first + i) * d, m->output_norm, hp->norm_eps, c->xb + (size_t)row * d, d);
    }
    return kern_matmul(c->k, &m->output, c->xb, n_out, logits);
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
