/*
 * model_moe.c — the mixture-of-experts FFN (Mixtral, Qwen3 MoE): a router picks K of E experts per token and the
 * token's output is the weighted sum of those experts' SwiGLU FFNs. Only the chosen experts' matrices are read:
 * tokens are grouped by expert, and each expert used in the batch runs once over its rows.
 *
 * Numerics follow llama.cpp: router probabilities are a softmax over all E logits, the K largest are taken (best
 * first), their weights renormalised to sum to one (the sum clamped below at 2^-14) unless the architecture keeps
 * the raw probabilities (Qwen 2 MoE), and the weighted outputs summed per token in that order; a shared expert
 * (Qwen 2 MoE) is added last, scaled by the sigmoid of its own gate logit.
 */
#include <math.h>
#include <string.h>

#include "model_int.h"

/* Picks the k largest of p (E,) into sel, best first (the earlier index wins a tie). */
static void model__top_k(const float *p, int32_t E, int32_t k, int32_t *sel) {
    for (int32_t j = 0; j < k; j++) {
        int32_t best = -1;
        for (int32_t e = 0; e < E; e++) {
            bool taken = false;
            for (int32_t t = 0; t < j && !taken; t++) taken = sel[t] == e;
            if (!taken && (best < 0 || p[e] > p[best])) best = e;
        }
        sel[j] = best;
    }
}

/* One expert's slab of a stacked (E * rows, cols) weight: rows [e * rows, (e + 1) * rows). */
static kern_weight_t model__expert(const kern_weight_t *w, int32_t e, int64_t rows) {
    kern_weight_t x = *w;
    x.rows = rows;
    x.data = (const uint8_t *)w->data + (size_t)e * (size_t)rows * w->row_bytes;
    return x;
}

int model__moe_ffn(model_ctx_t *c, const model_layer_t *L, const float *xb, int32_t n, float *out) {
    const model_hparams_t *hp = &c->m->hp;
    const int32_t d = hp->n_embd, E = hp->n_expert, K = hp->n_expert_used, fe = hp->n_ff_exp;
    int rc;
    /* route: logits (n, E) = xb @ router^T -> probabilities -> the K best and their normalised weights */
    if ((rc = kern_matmul(c->k, &L->router, xb, n, c->moe_logits))) return rc;
    for (int32_t i = 0; i < n; i++) {
        float *p = c->moe_logits + (size_t)i * E, *w = c->moe_w + (size_t)i * K;
        int32_t *sel = c->moe_sel + (size_t)i * K;
        kern_softmax(p, E);
        model__top_k(p, E, K, sel);
        float sum = 0.0f;
        for (int32_t j = 0; j < K; j++) sum += (w[j] = p[sel[j]]);
        if (c->m->arch->moe_raw_weights) continue;
        if (sum < 6.103515625e-5f) sum = 6.103515625e-5f;
        for (int32_t j = 0; j < K; j++) w[j] /= sum;
    }
    /* each expert in use: gather its rows, SwiGLU FFN, weighted result into its (token, slot) place */
    for (int32_t e = 0; e < E; e++) {
        int32_t m = 0;
        for (int32_t s = 0; s < n * K; s++)
            if (c->moe_sel[s] == e) c->moe_rows[m++] = s;
        if (m == 0) continue;
        for (int32_t r = 0; r < m; r++)
            memcpy(c->moe_x + (size_t)r * d, xb + (size_t)(c->moe_rows[r] / K) * d, (size_t)d * sizeof(float));
        kern_weight_t g = model__expert(&L->gate_exps, e, fe), u = model__expert(&L->up_exps, e, fe);
        kern_weight_t dn = model__expert(&L->down_exps, e, d);
        const kern_weight_t *gu[2] = {&g, &u};
        float *gu_out[2] = {c->hb, c->hb2};
        if ((rc = kern_matmul_multi(c->k, gu, 2, c->moe_x, m, gu_out))) return rc;
        kern_silu_mul(c->hb, c->hb2, c->hb, (int64_t)m * fe);
        if ((rc = kern_matmul(c->k, &dn, c->hb, m, c->moe_x))) return rc;
        for (int32_t r = 0; r < m; r++) {
            const int32_t s = c->moe_rows[r];
            const float w = c->moe_w[s], *y = c->moe_x + (size_t)r * d;
            float *dst = c->moe_y + (size_t)s * d;
            for (int32_t j = 0; j < d; j++) dst[j] = y[j] * w;
        }
    }
    /* the shared expert (n, d) into moe_x, before out may overwrite xb: sigmoid(xb . g) * SwiGLU FFN(xb) */
    if (L->gate_shexp.data) {
        const int32_t fs = hp->n_ff_shexp;
        if ((rc = kern_matmul(c->k, &L->gate_inp_shexp, xb, n, c->moe_logits))) return rc;
        const kern_weight_t *gu[2] = {&L->gate_shexp, &L->up_shexp};
        float *gu_out[2] = {c->hb, c->hb2};
        if ((rc = kern_matmul_multi(c->k, gu, 2, xb, n, gu_out))) return rc;
        kern_silu_mul(c->hb, c->hb2, c->hb, (int64_t)n * fs);
        if ((rc = kern_matmul(c->k, &L->down_shexp, c->hb, n, c->moe_x))) return rc;
        for (int32_t i = 0; i < n; i++) { /* sigmoid as silu(x) / x, in llama.cpp's order of operations */
            const float x = c->moe_logits[i], g = x == 0.0f ? 0.5f : (x / (1.0f + expf(-x))) / x;
            for (int32_t t = 0; t < d; t++) c->moe_x[(size_t)i * d + t] *= g;
        }
    }
    /* out (n, d) = sum over slots, in slot order, then the shared expert */
    for (int32_t i = 0; i < n; i++) {
        float *o = out + (size_t)i * d;
        const float *y = c->moe_y + (size_t)i * K * d;
        memcpy(o, y, (size_t)d * sizeof(float));
        for (int32_t j = 1; j < K; j++)
            for (int32_t t = 0; t < d; t++) o[t] += y[(size_t)j * d + t];
        if (L->gate_shexp.data)
            for (int32_t t = 0; t < d; t++) o[t] += c->moe_x[(size_t)i * d + t];
    }
    return 0;
}
