/*
 * model_int.h — the model's internals, shared by its files and no other module: model_load.c (hyperparameters
 * and tensors from GGUF), model.c (contexts and the forward pass), model_attn.c (attention over the paged
 * cache) and model_moe.c (mixture-of-experts FFN).
 *
 * Shapes use d = n_embd, hd = head_dim (q and k), hdv = head_dim_v, nq = n_head*hd, nk = n_head_kv*hd,
 * nv = n_head_kv*hdv, nav = n_head*hdv (attention output), f = n_ff, fe = n_ff_exp, E = n_expert,
 * K = n_expert_used, V = n_vocab. Weight matrices are W (out, in) as GGUF stores them (ne[0] = in is contiguous).
 */
#ifndef CINDER_MODEL_INT_H
#define CINDER_MODEL_INT_H

#include "arch.h"
#include "kernels/kern.h"
#include "model.h"

typedef struct {
    float *attn_norm;                  /* (d,) owned F32 copy, as every vector below */
    kern_weight_t wq, wk, wv;          /* (nq, d), (nk, d), (nv, d); unused when fused */
    kern_weight_t wqkv;                /* (nq + nk + nv, d) fused, or data NULL */
    float *bq, *bk, *bv;               /* (nq,), (nk,), (nv,) biases, or NULL */
    float *q_norm, *k_norm;            /* (hd,) per-head RMSNorm weights, or NULL */
    kern_weight_t wo;                  /* (d, nav) */
    float *attn_post_norm;             /* (d,) or NULL */
    float *ffn_norm;                   /* (d,) */
    kern_weight_t gate, up, down;      /* dense: (f, d), (f, d) or fused [gate|up] (2f, d) with gate unused, (d, f) */
    kern_weight_t router;              /* MoE: (E, d) */
    kern_weight_t gate_exps, up_exps, down_exps; /* MoE: E slabs of (fe, d), (fe, d), (d, fe) */
    kern_weight_t gate_inp_shexp;      /* shared expert: (1, d) gate logit, then (fs, d), (fs, d), (d, fs) */
    kern_weight_t gate_shexp, up_shexp, down_shexp;
    float *ffn_post_norm;              /* (d,) or NULL */
    float *bo, *b_up, *b_down;         /* (d,), (f,), (d,) projection biases (ARCH_F_PROJ_BIAS), or NULL */
    float *attn_out_norm, *attn_out_norm_b; /* encoders: (d,) LayerNorm after the attention's residual add */
    float *out_norm, *out_norm_b;      /* encoders: (d,) LayerNorm after the FFN's residual add */
    bool swa;                          /* a sliding-window layer */
} model_layer_t;

struct model {
    gguf_t *g;
    tok_t *tok;
    const arch_t *arch;
    model_hparams_t hp;
    kern_weight_t tok_embd;  /* (V, d) */
    kern_weight_t output;    /* (V, d); the embedding when tied */
    float *output_norm;      /* (d,); NULL for encoders */
    float *type_embd;        /* encoders: (d,) token_types row 0 (every token is of type 0), or NULL */
    kern_weight_t pos_embd;  /* ARCH_F_POS_EMBD: (n_ctx_train, d) */
    float *tok_norm, *tok_norm_b; /* encoders: (d,) LayerNorm of the input embeddings */
    float *rope_freqs;       /* (n_rot/2,) frequency divisors (Llama 3.1 style), or NULL */
    float *rope_long, *rope_short; /* (n_rot/2,) LongRoPE divisors, or NULL */
    model_layer_t *layers;   /* n_layer */
    uint64_t weight_bytes;
    const char *weight_type;
};

/* Prompt chunks of at least this many tokens run attention as matrix products (per head: S = Q K^T, O = P V);
 * shorter ones, decode tokens above all, run the per-token loop. */
#define MODEL_ATTN_GEMM_MIN 8

struct model_ctx {
    const model_t *m;
    kern_pool_t *pool;
    kern_ctx_t *k;
    int32_t max_batch, max_ctx;
    float *x;       /* (max_batch, d) residual stream */
    float *xb;      /* (max_batch, max(d, nav)) normed input / projection output */
    float *q;       /* (max_batch, nq) */
    float *kk;      /* (max_batch, nk) */
    float *vv;      /* (max_batch, nv) */
    float *qkv;     /* (max_batch, nq + nk + nv) fused projection output, or NULL */
    float *att;     /* (max_batch, nav) attention output */
    float *hb, *hb2; /* (max_batch, 2 * max(f, fe)) and (max_batch, max(f, fe)) FFN hidden */
    float *scores;  /* (n_threads, n_head / n_head_kv, scores_stride) */
    size_t scores_stride; /* floats per scores row: max_ctx rounded up to 16, plus 16 (see model_ctx_create) */
    float *tile;    /* (n_threads, tile_floats) prefill attention: K and V of a head as F32 + a scores tile */
    size_t tile_floats;
    float *rope;     /* (max_batch, n_rot) cos/sin pairs of global layers */
    float *rope_swa; /* (max_batch, n_rot) of sliding-window layers, or NULL when they are the same */
    const float *rope_factors; /* (n_rot/2,) divisors in use, or NULL */
    int32_t *tok_entry, *tok_pos; /* (max_batch,) batch entry and position of each token */
    int32_t *entry_first;         /* (max_batch,) first token of each batch entry */
    /* mixture of experts (NULL for dense models) */
    float *moe_logits;  /* (max_batch, E) router logits, then probabilities */
    int32_t *moe_sel;   /* (max_batch, K) chosen experts per token, best first */
    float *moe_w;       /* (max_batch, K) their weights */
    int32_t *moe_rows;  /* (max_batch * K) (token * K + slot) of each expert's rows, grouped by expert */
    float *moe_x;       /* (max_batch * K, d) gathered inputs, then expert outputs */
    float *moe_y;       /* (max_batch, K, d) weighted expert outputs, summed per token in slot order */
};

/* Loads hyperparameters and tensors for m->g (model_load.c). 0 or an error with one line in err. */
int model__load_arch(model_t *m, char *err, size_t err_len);

/* The attention of one layer for the whole batch, over the paged cache (model_attn.c): c->q (rotated, scaled,
 * rounded), the layer's keys and values already in kv -> c->att. */
void model__attention(model_ctx_t *c, kv_cache_t *kv, const model_batch_seq_t *seqs, int32_t n_seqs, int32_t layer,
                      int32_t n);

/* The mixture-of-experts FFN of layer L (model_moe.c): xb (n, d) normed input -> out (n, d). 0 or an error. */
int model__moe_ffn(model_ctx_t *c, const model_layer_t *L, const float *xb, int32_t n, float *out);

#endif
