/*
 * arch.h — the table of transformer architectures cinder runs: one descriptor per GGUF `general.architecture`.
 *
 * Owns: static, read-only descriptors. An architecture is data here, not code: which tensors a layer has (and
 * which of them are required), the RoPE layout, the FFN activation, and the optional steps of the one forward
 * pass in model.c (biases, per-head Q/K norms, post norms, soft-capping, sliding-window layers, experts...).
 * Hyperparameter values come from the file (`<arch>.*` keys); a descriptor only gives the defaults an
 * architecture implies when its files leave a key out.
 * Does not: read files or compute anything. Adding an architecture means one entry in arch.c and, at most, one
 * new step in the forward pass.
 * Threads: everything here is immutable; any thread may call it.
 */
#ifndef CINDER_ARCH_H
#define CINDER_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How RoPE pairs the values of a head: adjacent (x[2i], x[2i+1]) or the two halves (x[i], x[i + n_rot/2]). */
typedef enum { ARCH_ROPE_NORM, ARCH_ROPE_NEOX } arch_rope_t;

/* The FFN's activation: silu(gate) * up (SwiGLU) or gelu_tanh(gate) * up (GeGLU); with ARCH_F_FFN_SEQ, act(up). */
typedef enum { ARCH_ACT_SILU, ARCH_ACT_GELU } arch_act_t;

/* Features: the optional steps and tensors an architecture switches on. */
enum {
    ARCH_F_QKV_BIAS = 1u << 0,      /* attn_{q,k,v}.bias added after the projections (required) */
    ARCH_F_QK_NORM = 1u << 1,       /* per-head RMSNorm of q and k (attn_{q,k}_norm, head width) before RoPE */
    ARCH_F_FUSED_QKV = 1u << 2,     /* attn_qkv may hold [q|k|v] rows in one matrix (else separate q/k/v) */
    ARCH_F_FUSED_GATE_UP = 1u << 3, /* ffn_up holds [gate|up] (2*n_ff rows), no ffn_gate */
    ARCH_F_EMBD_SCALE = 1u << 4,    /* token embeddings multiplied by sqrt(n_embd) */
    ARCH_F_POST_NORMS = 1u << 5,    /* RMSNorm of the attention and FFN outputs before each residual add */
    ARCH_F_ATTN_SOFTCAP = 1u << 6,  /* attention logits soft-capped: cap * tanh(s / cap) */
    ARCH_F_FINAL_SOFTCAP = 1u << 7, /* output logits soft-capped (when the cap is non-zero) */
    ARCH_F_SWA = 1u << 8,           /* sliding-window attention on a per-layer pattern */
    ARCH_F_MOE = 1u << 9,           /* mixture-of-experts FFN when <arch>.expert_count > 0 */
    ARCH_F_TIED = 1u << 10,         /* the output matrix is always the token embedding */
    ARCH_F_Q_PRESCALE = 1u << 11,   /* q is scaled before attention (scale 1 inside), as the model defines it */
    ARCH_F_ROPE_FACTORS = 1u << 12, /* rope_freqs (Llama 3.1) or rope_factors_{long,short} (Phi-3 LongRoPE) */
    ARCH_F_SHARED_EXPERT = 1u << 13, /* beside the routed experts, a shared expert FFN scaled by a sigmoid gate */
    ARCH_F_ENCODER = 1u << 14,   /* an embedding encoder: bidirectional attention within a sequence; LayerNorm (with
                                    bias) after each residual add instead of RMSNorm before each block
                                    (attn_output_norm, layer_output_norm); the input is LayerNorm'd (token_embd_norm)
                                    after adding token_types row 0; no output head (pooled hidden states) */
    ARCH_F_POS_EMBD = 1u << 15,  /* learned absolute position embeddings (position_embd) instead of RoPE */
    ARCH_F_PROJ_BIAS = 1u << 16, /* biases on attn_output, ffn_up and ffn_down (optional tensors) */
    ARCH_F_FFN_SEQ = 1u << 17,   /* a plain FFN, down(act(up x)), without a gate (BERT's GELU) */
};

typedef struct {
    const char *name;          /* GGUF general.architecture, also the metadata key prefix */
    arch_rope_t rope;
    arch_act_t act;
    uint32_t features;         /* ARCH_F_* */
    int32_t swa_pattern;       /* default sliding-window pattern P: layer l slides when l % P < P - 1 (0: none) */
    int32_t swa_window;        /* default window when the file has no attention.sliding_window (0: none) */
    bool swa_needs_key;        /* sliding windows only when the file sets attention.sliding_window > 0 */
    float attn_softcap;        /* default attention logit cap (0: none) */
    float final_softcap;       /* default final logit cap (0: none) */
    bool swa_base_from_global; /* local layers default to the global rope base (else 10000) */
    bool moe_raw_weights;      /* the chosen experts keep their softmax probabilities (else renormalised to sum 1) */
    const char *eps_key;       /* the normalisation epsilon's key suffix (NULL: attention.layer_norm_rms_epsilon) */
} arch_t;

/* The descriptor for a GGUF architecture name of len bytes, or NULL when cinder does not run it. */
const arch_t *arch_find(const char *name, size_t len);

/* The supported architectures' names, comma-separated (static storage), for error messages. */
const char *arch_names(void);

/*
 * Writes the names of the features in `features` (ARCH_F_*), comma-separated, to buf (always terminated).
 * Returns buf.
 */
char *arch_feature_names(uint32_t features, char *buf, size_t len);

#endif
