/*
 * model_load.c — reading an architecture's hyperparameters and tensors from GGUF, driven by its descriptor
 * (arch.h): one loader for every architecture, with the descriptor saying which keys default how and which
 * tensors exist, are optional or are required.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "model_int.h"

/* ---- metadata -------------------------------------------------------------------------------------------- */

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
        return err_set(err, err_len, ERR_FORMAT, "%s: key '%s' is not a valid integer (per-layer arrays are not "
                       "supported)", gguf_name(g), key);
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
    if (!isfinite(*out)) return err_set(err, err_len, ERR_FORMAT, "%s: key '%s' is not finite", gguf_name(g), key);
    return 0;
}

/* Rope scaling: <arch>.rope.scaling.{type,factor,original_context_length,attn_factor,yarn_beta_*}. */
static int model__read_rope_scaling(model_t *m, char *err, size_t err_len) {
    const gguf_t *g = m->g;
    model_hparams_t *hp = &m->hp;
    const char *a = m->arch->name;
    char key[128];
    int rc;
    float factor = 0.0f;
    if ((rc = model__get_f32(g, a, "rope.scaling.factor", false, 0.0f, &factor, err, err_len))) return rc;
    /* a factor without a type is linear scaling */
    hp->rope_scaling = factor != 0.0f ? MODEL_ROPE_SCALING_LINEAR : MODEL_ROPE_SCALING_NONE;
    gguf_str_t type;
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (gguf_get_str(g, key, &type) == 0) {
        if (gguf_str_eq(type, "none")) hp->rope_scaling = MODEL_ROPE_SCALING_NONE;
        else if (gguf_str_eq(type, "linear")) hp->rope_scaling = MODEL_ROPE_SCALING_LINEAR;
        else if (gguf_str_eq(type, "yarn")) hp->rope_scaling = MODEL_ROPE_SCALING_YARN;
        else if (gguf_str_eq(type, "longrope")) hp->rope_scaling = MODEL_ROPE_SCALING_LONGROPE;
        else
            return err_set(err, err_len, ERR_UNSUPPORTED, "%s: rope scaling type '%.*s' is not supported",
                           gguf_name(g), (int)(type.len > 32 ? 32 : type.len), type.ptr);
    }
    if (factor < 0.0f) return err_set(err, err_len, ERR_FORMAT, "%s: rope.scaling.factor %g is invalid", gguf_name(g), factor);
    hp->rope_freq_scale = factor == 0.0f ? 1.0f : 1.0f / factor;
    if (hp->rope_scaling == MODEL_ROPE_SCALING_NONE) hp->rope_freq_scale = 1.0f;
    if ((rc = model__get_i32(g, a, "rope.scaling.original_context_length", false, hp->n_ctx_train, &hp->n_ctx_orig,
                             err, err_len)))
        return rc;
    if ((rc = model__get_f32(g, a, "rope.scaling.attn_factor", false, 1.0f, &hp->rope_attn_factor, err, err_len)))
        return rc;
    if ((rc = model__get_f32(g, a, "rope.scaling.yarn_beta_fast", false, 32.0f, &hp->yarn_beta_fast, err, err_len)))
        return rc;
    if ((rc = model__get_f32(g, a, "rope.scaling.yarn_beta_slow", false, 1.0f, &hp->yarn_beta_slow, err, err_len)))
        return rc;
    if (hp->n_ctx_orig <= 0) return err_set(err, err_len, ERR_FORMAT, "%s: original context length %d is invalid",
                                            gguf_name(g), hp->n_ctx_orig);
    if (hp->rope_scaling == MODEL_ROPE_SCALING_YARN) {
        /* YaRN's magnitude correction, with the part the rotation itself applies cancelled (as llama.cpp does) */
        float f = 1.0f / hp->rope_freq_scale;
        float mscale = f <= 1.0f ? 1.0f : 0.1f * logf(f) + 1.0f;
        mscale *= 1.0f / (1.0f + 0.1f * logf(f));
        hp->rope_attn_factor = mscale * hp->rope_attn_factor;
    }
    return 0;
}

/* Sliding-window layers: <arch>.attention.sliding_window and a pattern (a period, or one bool per layer). */
static int model__read_swa(model_t *m, char *err, size_t err_len) {
    const gguf_t *g = m->g;
    model_hparams_t *hp = &m->hp;
    const arch_t *ar = m->arch;
    const char *a = ar->name;
    int rc;
    if (!(ar->features & ARCH_F_SWA)) return 0;
    if ((rc = model__get_i32(g, a, "attention.sliding_window", false, ar->swa_needs_key ? 0 : ar->swa_window,
                             &hp->n_swa, err, err_len)))
        return rc;
    if (hp->n_swa < 0) return err_set(err, err_len, ERR_FORMAT, "%s: sliding window %d is invalid", gguf_name(g), hp->n_swa);
    if (hp->n_swa == 0) {
        hp->features &= ~(uint32_t)ARCH_F_SWA;
        return 0;
    }
    char key[128];
    snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", a);
    const gguf_arr_t *arr;
    if (gguf_get_arr(g, key, &arr) == 0) {
        if (arr->type != GGUF_BOOL || arr->n != (uint64_t)hp->n_layer)
            return err_set(err, err_len, ERR_FORMAT, "%s: '%s' must hold one bool per layer", gguf_name(g), key);
        for (int32_t l = 0; l < hp->n_layer; l++) m->layers[l].swa = arr->data[l] != 0;
        return 0;
    }
    int32_t period;
    if ((rc = model__get_i32(g, a, "attention.sliding_window_pattern", false, ar->swa_pattern, &period, err, err_len)))
        return rc;
    if (period < 0 || period > hp->n_layer + 1)
        return err_set(err, err_len, ERR_FORMAT, "%s: sliding window pattern %d is invalid", gguf_name(g), period);
    for (int32_t l = 0; l < hp->n_layer; l++) m->layers[l].swa = period == 0 || l % period < period - 1;
    return 0;
}

/* Embedding models: <arch>.pooling_type (llama.cpp's enum: 0 none, 1 mean, 2 cls, 3 last, 4 rank) and
 * <arch>.attention.causal. Encoders always pool (mean when the key is missing or says none); rank (a reranker's
 * classifier head) is refused. */
static int model__read_pooling(model_t *m, char *err, size_t err_len) {
    const gguf_t *g = m->g;
    model_hparams_t *hp = &m->hp;
    const char *a = m->arch->name;
    const bool encoder = (m->arch->features & ARCH_F_ENCODER) != 0;
    char key[128];
    int32_t pool;
    int rc;
    if ((rc = model__get_i32(g, a, "pooling_type", false, 0, &pool, err, err_len))) return rc;
    if (pool == 4)
        return err_set(err, err_len, ERR_UNSUPPORTED, "%s: pooling type 'rank' (a reranker) is not supported",
                       gguf_name(g));
    if (pool < 0 || pool > 4)
        return err_set(err, err_len, ERR_FORMAT, "%s: %s.pooling_type = %d is not a pooling type", gguf_name(g), a,
                       pool);
    hp->pooling = (model_pool_t)pool;
    if (encoder && hp->pooling == MODEL_POOL_NONE) hp->pooling = MODEL_POOL_MEAN;
    hp->causal = !encoder;
    snprintf(key, sizeof key, "%s.attention.causal", a);
    bool causal;
    if (gguf_get_bool(g, key, &causal) == 0) hp->causal = causal;
    return 0;
}

static int model__read_hparams(model_t *m, char *err, size_t err_len) {
    const gguf_t *g = m->g;
    model_hparams_t *hp = &m->hp;
    gguf_str_t arch_s;
    if (gguf_get_str(g, "general.architecture", &arch_s) != 0)
        return err_set(err, err_len, ERR_FORMAT, "%s: missing required key 'general.architecture'", gguf_name(g));
    m->arch = arch_find(arch_s.ptr, arch_s.len);
    if (!m->arch)
        return err_set(err, err_len, ERR_UNSUPPORTED, "%s: architecture '%.*s' is not supported (cinder runs %s)",
                       gguf_name(g), (int)(arch_s.len > 64 ? 64 : arch_s.len), arch_s.ptr, arch_names());
    const arch_t *ar = m->arch;
    const char *a = ar->name;
    hp->arch = a;
    hp->features = ar->features;
    hp->rope_neox = ar->rope == ARCH_ROPE_NEOX;
    int rc;
    if ((rc = model__get_i32(g, a, "context_length", true, 0, &hp->n_ctx_train, err, err_len))) return rc;
    if ((rc = model__get_i32(g, a, "embedding_length", true, 0, &hp->n_embd, err, err_len))) return rc;
    if ((rc = model__get_i32(g, a, "block_count", true, 0, &hp->n_layer, err, err_len))) return rc;
    if ((rc = model__get_i32(g, a, "attention.head_count", true, 0, &hp->n_head, err, err_len))) return rc;
    if ((rc = model__get_i32(g, a, "attention.head_count_kv", false, hp->n_head, &hp->n_head_kv, err, err_len)))
        return rc;
    if ((rc = model__get_f32(g, a, ar->eps_key ? ar->eps_key : "attention.layer_norm_rms_epsilon", true, 0,
                             &hp->norm_eps, err, err_len)))
        return rc;
    if ((rc = model__read_pooling(m, err, err_len))) return rc;
    if ((rc = model__get_f32(g, a, "rope.freq_base", false, 10000.0f, &hp->rope_freq_base, err, err_len))) return rc;

    if ((rc = model__get_i32(g, a, "expert_count", false, 0, &hp->n_expert, err, err_len))) return rc;
    if (hp->n_expert > 0 && !(ar->features & ARCH_F_MOE))
        return err_set(err, err_len, ERR_UNSUPPORTED, "%s: %s.expert_count = %d, but cinder runs '%s' models without "
                       "experts only", gguf_name(g), a, hp->n_expert, a);
    if (hp->n_expert == 0) hp->features &= ~(uint32_t)ARCH_F_MOE;
    if (hp->n_expert > 0) {
        if ((rc = model__get_i32(g, a, "expert_used_count", true, 0, &hp->n_expert_used, err, err_len))) return rc;
        if (hp->n_expert > 1024 || hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert || hp->n_expert_used > 64)
            return err_set(err, err_len, ERR_FORMAT, "%s: expert counts out of range (expert_count %d, "
                           "expert_used_count %d)", gguf_name(g), hp->n_expert, hp->n_expert_used);
    }
    /* a MoE file may leave the dense width out (Qwen3 MoE) and give the experts' width separately */
    if ((rc = model__get_i32(g, a, "feed_forward_length", hp->n_expert == 0, 0, &hp->n_ff, err, err_len))) return rc;
    if ((rc = model__get_i32(g, a, "expert_feed_forward_length", false, hp->n_ff, &hp->n_ff_exp, err, err_len)))
        return rc;
    if (hp->n_expert == 0) hp->n_ff_exp = 0;
    if (hp->n_expert > 0 && (ar->features & ARCH_F_SHARED_EXPERT)) {
        if ((rc = model__get_i32(g, a, "expert_shared_feed_forward_length", false, hp->n_ff, &hp->n_ff_shexp, err,
                                 err_len)))
            return rc;
        if (hp->n_ff_shexp <= 0 || hp->n_ff_shexp > 1 << 20)
            return err_set(err, err_len, ERR_FORMAT, "%s: shared expert width %d out of range", gguf_name(g),
                           hp->n_ff_shexp);
    } else {
        hp->features &= ~(uint32_t)ARCH_F_SHARED_EXPERT;
    }

    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff < 0 || hp->n_head <= 0 || hp->n_head_kv <= 0 ||
        hp->n_ctx_train <= 0 || hp->n_embd > 65536 || hp->n_layer > 1024 || hp->n_head > 1024 || hp->n_ff > 1 << 20 ||
        hp->n_ff_exp < 0 || hp->n_ff_exp > 1 << 20 || (hp->n_expert == 0 && hp->n_ff == 0) ||
        (hp->n_expert > 0 && hp->n_ff_exp == 0))
        return err_set(err, err_len, ERR_FORMAT, "%s: hyperparameters out of range (n_embd %d, n_layer %d, "
                       "n_ff %d, n_head %d, n_head_kv %d, context_length %d)", gguf_name(g), hp->n_embd,
                       hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv, hp->n_ctx_train);
    if (hp->n_head % hp->n_head_kv != 0)
        return err_set(err, err_len, ERR_FORMAT, "%s: head_count %d is not a multiple of head_count_kv %d",
                       gguf_name(g), hp->n_head, hp->n_head_kv);
    int32_t dflt_hd = hp->n_embd % hp->n_head == 0 ? hp->n_embd / hp->n_head : 0;
    if ((rc = model__get_i32(g, a, "attention.key_length", false, dflt_hd, &hp->head_dim, err, err_len))) return rc;
    if ((rc = model__get_i32(g, a, "attention.value_length", false, dflt_hd, &hp->head_dim_v, err, err_len))) return rc;
    if (hp->head_dim <= 0 || hp->head_dim % 2 != 0 || hp->head_dim > 1024 || hp->head_dim_v <= 0 ||
        hp->head_dim_v > 1024)
        return err_set(err, err_len, ERR_UNSUPPORTED, "%s: head size (key_length %d, value_length %d) is not "
                       "supported", gguf_name(g), hp->head_dim, hp->head_dim_v);
    if ((rc = model__get_i32(g, a, "rope.dimension_count", false, hp->head_dim, &hp->n_rot, err, err_len))) return rc;
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return err_set(err, err_len, ERR_FORMAT, "%s: rope.dimension_count %d is invalid for head size %d",
                       gguf_name(g), hp->n_rot, hp->head_dim);
    if (!(hp->norm_eps > 0.0f && hp->norm_eps < 1.0f) || !(hp->rope_freq_base > 0.0f))
        return err_set(err, err_len, ERR_FORMAT, "%s: rms epsilon %g or rope freq base %g out of range",
                       gguf_name(g), hp->norm_eps, hp->rope_freq_base);
    if ((rc = model__read_rope_scaling(m, err, err_len))) return rc;

    /* local (sliding-window) layers may have their own rope base; their frequencies are never scaled unless the
     * architecture shares the global settings (Gemma 2) */
    hp->rope_freq_base_swa = ar->swa_base_from_global ? hp->rope_freq_base : 10000.0f;
    hp->rope_freq_scale_swa = ar->swa_base_from_global ? hp->rope_freq_scale : 1.0f;
    if ((rc = model__get_f32(g, a, "rope.freq_base_swa", false, hp->rope_freq_base_swa, &hp->rope_freq_base_swa, err,
                             err_len)))
        return rc;
    if (!(hp->rope_freq_base_swa > 0.0f))
        return err_set(err, err_len, ERR_FORMAT, "%s: rope.freq_base_swa %g is invalid", gguf_name(g),
                       hp->rope_freq_base_swa);

    hp->attn_softcap = 0.0f;
    hp->final_softcap = 0.0f;
    if (ar->features & ARCH_F_ATTN_SOFTCAP &&
        (rc = model__get_f32(g, a, "attn_logit_softcapping", false, ar->attn_softcap, &hp->attn_softcap, err, err_len)))
        return rc;
    if (ar->features & ARCH_F_FINAL_SOFTCAP &&
        (rc = model__get_f32(g, a, "final_logit_softcapping", false, ar->final_softcap, &hp->final_softcap, err,
                             err_len)))
        return rc;
    if (hp->attn_softcap < 0.0f || hp->final_softcap < 0.0f)
        return err_set(err, err_len, ERR_FORMAT, "%s: negative soft-cap", gguf_name(g));
    if (hp->attn_softcap == 0.0f) hp->features &= ~(uint32_t)ARCH_F_ATTN_SOFTCAP;
    if (hp->final_softcap == 0.0f) hp->features &= ~(uint32_t)ARCH_F_FINAL_SOFTCAP;

    /* attention scaling: Gemma's query_pre_attn_scalar is n_embd / n_head for its 27B models (46 and 62 layers)
     * and the head size otherwise; Phi-3 scales q by 1/sqrt(head size) before attention */
    hp->embd_scale = ar->features & ARCH_F_EMBD_SCALE ? sqrtf((float)hp->n_embd) : 1.0f;
    hp->q_scale = 1.0f;
    hp->kq_scale = 1.0f / sqrtf((float)hp->head_dim);
    if (ar->features & ARCH_F_Q_PRESCALE) {
        bool gemma_27b = (ar->features & ARCH_F_EMBD_SCALE) &&
                         ((strcmp(a, "gemma2") == 0 && hp->n_layer == 46) || (strcmp(a, "gemma3") == 0 && hp->n_layer == 62));
        hp->q_scale = gemma_27b ? 1.0f / sqrtf((float)(hp->n_embd / hp->n_head)) : hp->kq_scale;
        hp->kq_scale = 1.0f;
    }
    return 0;
}

/* ---- tensors --------------------------------------------------------------------------------------------- */

/* Finds a tensor and checks its shape: ne0 (contiguous, "in"), ne1 ("out", 1 for vectors), ne2 (experts, else 1). */
static int model__tensor(model_t *m, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, bool required,
                         const gguf_tensor_t **out, char *err, size_t err_len) {
    const gguf_tensor_t *t = gguf_find_tensor(m->g, name);
    *out = t;
    if (!t) {
        if (!required) return 0;
        return err_set(err, err_len, ERR_FORMAT, "%s: missing tensor '%s'", gguf_name(m->g), name);
    }
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != ne2 || t->ne[3] != 1)
        return err_set(err, err_len, ERR_FORMAT,
                       "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld]",
                       gguf_name(m->g), name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                       (long long)t->ne[3], (long long)ne0, (long long)ne1, (long long)ne2);
    return 0;
}

/* A matrix (out, in), or with n_exp > 1 a stack of n_exp such matrices read as one (n_exp * out, in) matrix. */
static int model__matrix(model_t *m, const char *name, int64_t in, int64_t outd, int64_t n_exp, bool required,
                         kern_weight_t *w, char *err, size_t err_len) {
    const gguf_tensor_t *t;
    w->data = NULL;
    int rc = model__tensor(m, name, in, outd, n_exp, required, &t, err, err_len);
    if (rc || !t) return rc;
    w->type = t->type;
    w->rows = outd * n_exp;
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
    int rc = model__tensor(m, name, n, 1, 1, required, &t, err, err_len);
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

/* Encoders: row 0 of token_types (n_types, d), the type every token of a single input has; the tensor is optional
 * (llama.cpp reads it when present). */
static int model__type_row(model_t *m, char *err, size_t err_len) {
    const gguf_tensor_t *t = gguf_find_tensor(m->g, "token_types.weight");
    const int64_t d = m->hp.n_embd;
    if (!t) return 0;
    if (t->ne[0] != d || t->ne[1] < 1 || t->ne[2] != 1 || t->ne[3] != 1)
        return err_set(err, err_len, ERR_FORMAT, "%s: tensor 'token_types.weight' has shape [%lld, %lld], expected "
                       "[%lld, n_types]", gguf_name(m->g), (long long)t->ne[0], (long long)t->ne[1], (long long)d);
    if (!(m->type_embd = malloc((size_t)d * sizeof(float))))
        return err_set(err, err_len, ERR_NOMEM, "%s: out of memory", gguf_name(m->g));
    if (kern_dequant(t->type, t->data, m->type_embd, d) != 0)
        return err_set(err, err_len, ERR_FORMAT, "%s: cannot read tensor 'token_types.weight'", gguf_name(m->g));
    for (int64_t i = 0; i < d; i++)
        if (!isfinite(m->type_embd[i]))
            return err_set(err, err_len, ERR_FORMAT, "%s: tensor 'token_types.weight' holds a non-finite value",
                           gguf_name(m->g));
    m->weight_bytes += (uint64_t)dtype_row_bytes(t->type, d);
    return 0;
}

/* The tensors of layer l. */
static int model__load_layer(model_t *m, int32_t l, char *err, size_t err_len) {
    const model_hparams_t *hp = &m->hp;
    const uint32_t F = hp->features;
    const int64_t d = hp->n_embd, hd = hp->head_dim, f = hp->n_ff, fe = hp->n_ff_exp, E = hp->n_expert;
    const int64_t nq = (int64_t)hp->n_head * hd, nk = (int64_t)hp->n_head_kv * hd;
    const int64_t nv = (int64_t)hp->n_head_kv * hp->head_dim_v, nav = (int64_t)hp->n_head * hp->head_dim_v;
    model_layer_t *L = &m->layers[l];
    char name[96];
    int rc;
#define MODEL__NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
    const bool enc = (F & ARCH_F_ENCODER) != 0;
    if (enc) { /* post-norms with biases, after each residual add */
        if ((rc = model__vector(m, MODEL__NAME("attn_output_norm.weight"), d, true, &L->attn_out_norm, err,
                                err_len)) ||
            (rc = model__vector(m, MODEL__NAME("attn_output_norm.bias"), d, true, &L->attn_out_norm_b, err,
                                err_len)) ||
            (rc = model__vector(m, MODEL__NAME("layer_output_norm.weight"), d, true, &L->out_norm, err, err_len)) ||
            (rc = model__vector(m, MODEL__NAME("layer_output_norm.bias"), d, true, &L->out_norm_b, err, err_len)))
            return rc;
    } else if ((rc = model__vector(m, MODEL__NAME("attn_norm.weight"), d, true, &L->attn_norm, err, err_len))) {
        return rc;
    }
    if (F & ARCH_F_PROJ_BIAS) {
        if ((rc = model__vector(m, MODEL__NAME("attn_output.bias"), d, false, &L->bo, err, err_len)) ||
            (rc = model__vector(m, MODEL__NAME("ffn_up.bias"), f, false, &L->b_up, err, err_len)) ||
            (rc = model__vector(m, MODEL__NAME("ffn_down.bias"), d, false, &L->b_down, err, err_len)))
            return rc;
    }
    bool fused = false;
    if (F & ARCH_F_FUSED_QKV) {
        if ((rc = model__matrix(m, MODEL__NAME("attn_qkv.weight"), d, nq + nk + nv, 1, false, &L->wqkv, err, err_len)))
            return rc;
        fused = L->wqkv.data != NULL;
    }
    if (!fused) {
        if ((rc = model__matrix(m, MODEL__NAME("attn_q.weight"), d, nq, 1, true, &L->wq, err, err_len))) return rc;
        if ((rc = model__matrix(m, MODEL__NAME("attn_k.weight"), d, nk, 1, true, &L->wk, err, err_len))) return rc;
        if ((rc = model__matrix(m, MODEL__NAME("attn_v.weight"), d, nv, 1, true, &L->wv, err, err_len))) return rc;
    }
    if (F & ARCH_F_QKV_BIAS) {
        if ((rc = model__vector(m, MODEL__NAME("attn_q.bias"), nq, true, &L->bq, err, err_len))) return rc;
        if ((rc = model__vector(m, MODEL__NAME("attn_k.bias"), nk, true, &L->bk, err, err_len))) return rc;
        if ((rc = model__vector(m, MODEL__NAME("attn_v.bias"), nv, true, &L->bv, err, err_len))) return rc;
    }
    if (F & ARCH_F_QK_NORM) {
        if ((rc = model__vector(m, MODEL__NAME("attn_q_norm.weight"), hd, true, &L->q_norm, err, err_len))) return rc;
        if ((rc = model__vector(m, MODEL__NAME("attn_k_norm.weight"), hd, true, &L->k_norm, err, err_len))) return rc;
    }
    if ((rc = model__matrix(m, MODEL__NAME("attn_output.weight"), nav, d, 1, true, &L->wo, err, err_len))) return rc;
    if (F & ARCH_F_POST_NORMS) {
        if ((rc = model__vector(m, MODEL__NAME("post_attention_norm.weight"), d, true, &L->attn_post_norm, err,
                                err_len)))
            return rc;
        if ((rc = model__vector(m, MODEL__NAME("post_ffw_norm.weight"), d, true, &L->ffn_post_norm, err, err_len)))
            return rc;
    }
    if (!enc && (rc = model__vector(m, MODEL__NAME("ffn_norm.weight"), d, true, &L->ffn_norm, err, err_len)))
        return rc;
    if (F & ARCH_F_FFN_SEQ) { /* down(act(up x)) */
        if ((rc = model__matrix(m, MODEL__NAME("ffn_up.weight"), d, f, 1, true, &L->up, err, err_len))) return rc;
        if ((rc = model__matrix(m, MODEL__NAME("ffn_down.weight"), f, d, 1, true, &L->down, err, err_len))) return rc;
    } else if (E > 0) {
        if ((rc = model__matrix(m, MODEL__NAME("ffn_gate_inp.weight"), d, E, 1, true, &L->router, err, err_len)))
            return rc;
        if ((rc = model__matrix(m, MODEL__NAME("ffn_gate_exps.weight"), d, fe, E, true, &L->gate_exps, err, err_len)))
            return rc;
        if ((rc = model__matrix(m, MODEL__NAME("ffn_up_exps.weight"), d, fe, E, true, &L->up_exps, err, err_len)))
            return rc;
        if ((rc = model__matrix(m, MODEL__NAME("ffn_down_exps.weight"), fe, d, E, true, &L->down_exps, err, err_len)))
            return rc;
        if (F & ARCH_F_SHARED_EXPERT) {
            const int64_t fs = hp->n_ff_shexp;
            if ((rc = model__matrix(m, MODEL__NAME("ffn_gate_inp_shexp.weight"), d, 1, 1, true, &L->gate_inp_shexp,
                                    err, err_len)) ||
                (rc = model__matrix(m, MODEL__NAME("ffn_gate_shexp.weight"), d, fs, 1, true, &L->gate_shexp, err,
                                    err_len)) ||
                (rc = model__matrix(m, MODEL__NAME("ffn_up_shexp.weight"), d, fs, 1, true, &L->up_shexp, err,
                                    err_len)) ||
                (rc = model__matrix(m, MODEL__NAME("ffn_down_shexp.weight"), fs, d, 1, true, &L->down_shexp, err,
                                    err_len)))
                return rc;
        }
    } else if (F & ARCH_F_FUSED_GATE_UP) {
        if ((rc = model__matrix(m, MODEL__NAME("ffn_up.weight"), d, 2 * f, 1, true, &L->up, err, err_len))) return rc;
        if ((rc = model__matrix(m, MODEL__NAME("ffn_down.weight"), f, d, 1, true, &L->down, err, err_len))) return rc;
    } else {
        if ((rc = model__matrix(m, MODEL__NAME("ffn_gate.weight"), d, f, 1, true, &L->gate, err, err_len))) return rc;
        if ((rc = model__matrix(m, MODEL__NAME("ffn_up.weight"), d, f, 1, true, &L->up, err, err_len))) return rc;
        if ((rc = model__matrix(m, MODEL__NAME("ffn_down.weight"), f, d, 1, true, &L->down, err, err_len))) return rc;
    }
#undef MODEL__NAME
    return 0;
}

static int model__load_tensors(model_t *m, char *err, size_t err_len) {
    model_hparams_t *hp = &m->hp;
    int64_t d = hp->n_embd, V = hp->n_vocab;
    int rc;
    if ((rc = model__matrix(m, "token_embd.weight", d, V, 1, true, &m->tok_embd, err, err_len))) return rc;
    m->output.data = NULL;
    if (m->arch->features & ARCH_F_ENCODER) { /* input LayerNorm and token type 0; no output head */
        if ((rc = model__vector(m, "token_embd_norm.weight", d, true, &m->tok_norm, err, err_len)) ||
            (rc = model__vector(m, "token_embd_norm.bias", d, true, &m->tok_norm_b, err, err_len)) ||
            (rc = model__type_row(m, err, err_len)))
            return rc;
        if (m->arch->features & ARCH_F_POS_EMBD &&
            (rc = model__matrix(m, "position_embd.weight", d, hp->n_ctx_train, 1, true, &m->pos_embd, err, err_len)))
            return rc;
        hp->tied_output = false;
    } else {
        if ((rc = model__vector(m, "output_norm.weight", d, true, &m->output_norm, err, err_len))) return rc;
        if (!(m->arch->features & ARCH_F_TIED) &&
            (rc = model__matrix(m, "output.weight", d, V, 1, false, &m->output, err, err_len)))
            return rc;
        hp->tied_output = m->output.data == NULL;
        if (hp->tied_output) m->output = m->tok_embd;
    }
    if (m->arch->features & ARCH_F_ROPE_FACTORS) {
        if ((rc = model__vector(m, "rope_freqs.weight", hp->n_rot / 2, false, &m->rope_freqs, err, err_len))) return rc;
        if ((rc = model__vector(m, "rope_factors_long.weight", hp->n_rot / 2, false, &m->rope_long, err, err_len)))
            return rc;
        if ((rc = model__vector(m, "rope_factors_short.weight", hp->n_rot / 2, false, &m->rope_short, err, err_len)))
            return rc;
        if (!m->rope_freqs && !m->rope_long && !m->rope_short) hp->features &= ~(uint32_t)ARCH_F_ROPE_FACTORS;
    }
    bool any_fused = false; /* a file may mix fused and separate layers: scratch for the fused ones if any */
    for (int32_t l = 0; l < hp->n_layer; l++) {
        if ((rc = model__load_layer(m, l, err, err_len))) return rc;
        any_fused |= m->layers[l].wqkv.data != NULL;
    }
    if (!any_fused) hp->features &= ~(uint32_t)ARCH_F_FUSED_QKV;
    bool any_bias = false; /* projection biases are optional: name the feature only when the file has them */
    for (int32_t l = 0; l < hp->n_layer; l++) any_bias |= m->layers[l].bo || m->layers[l].b_up || m->layers[l].b_down;
    if (!any_bias) hp->features &= ~(uint32_t)ARCH_F_PROJ_BIAS;
    return 0;
}

int model__load_arch(model_t *m, char *err, size_t err_len) {
    int rc;
    if ((rc = model__read_hparams(m, err, err_len))) return rc;
    m->layers = calloc((size_t)m->hp.n_layer, sizeof *m->layers);
    if (!m->layers) return err_set(err, err_len, ERR_NOMEM, "%s: out of memory", gguf_name(m->g));
    if ((rc = model__read_swa(m, err, err_len))) return rc;
    if ((rc = tok_load(m->g, &m->tok, err, err_len))) return rc;
    m->hp.n_vocab = tok_n_vocab(m->tok);
    return model__load_tensors(m, err, err_len);
}
