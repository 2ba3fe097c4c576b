/* arch.c — the architecture table (see arch.h). Defaults follow the models' published configurations. */
#include "arch.h"

#include <stdio.h>
#include <string.h>

static const arch_t arch__table[] = {
    /* Llama 2/3, Mistral, TinyLlama, SmolLM; Mixtral when the file has experts */
    {.name = "llama",
     .rope = ARCH_ROPE_NORM,
     .act = ARCH_ACT_SILU,
     .features = ARCH_F_MOE | ARCH_F_ROPE_FACTORS},
    /* Qwen 2 / 2.5: biases on q, k and v */
    {.name = "qwen2", .rope = ARCH_ROPE_NEOX, .act = ARCH_ACT_SILU, .features = ARCH_F_QKV_BIAS},
    /* Qwen 1.5/2 MoE: qwen2 attention, softmax router without renormalisation, a gated shared expert */
    {.name = "qwen2moe",
     .rope = ARCH_ROPE_NEOX,
     .act = ARCH_ACT_SILU,
     .features = ARCH_F_QKV_BIAS | ARCH_F_MOE | ARCH_F_SHARED_EXPERT,
     .moe_raw_weights = true},
    /* Qwen 3: per-head q/k norms, no biases */
    {.name = "qwen3", .rope = ARCH_ROPE_NEOX, .act = ARCH_ACT_SILU, .features = ARCH_F_QK_NORM},
    /* Qwen 3 MoE (30B-A3B, 235B-A22B): qwen3 attention, softmax top-k router with renormalised weights */
    {.name = "qwen3moe", .rope = ARCH_ROPE_NEOX, .act = ARCH_ACT_SILU, .features = ARCH_F_QK_NORM | ARCH_F_MOE},
    /* Gemma 2: GeGLU, scaled embeddings, post norms, both soft-caps, every other layer local (window 4096) */
    {.name = "gemma2",
     .rope = ARCH_ROPE_NEOX,
     .act = ARCH_ACT_GELU,
     .features = ARCH_F_EMBD_SCALE | ARCH_F_POST_NORMS | ARCH_F_ATTN_SOFTCAP | ARCH_F_FINAL_SOFTCAP | ARCH_F_SWA |
                 ARCH_F_TIED | ARCH_F_Q_PRESCALE,
     .swa_pattern = 2,
     .swa_window = 4096,
     .attn_softcap = 50.0f,
     .final_softcap = 30.0f,
     .swa_base_from_global = true},
    /* Gemma 3 (text): gemma2 without the attention cap, with q/k norms; five local layers in six, local rope base
     * 10000 */
    {.name = "gemma3",
     .rope = ARCH_ROPE_NEOX,
     .act = ARCH_ACT_GELU,
     .features = ARCH_F_EMBD_SCALE | ARCH_F_POST_NORMS | ARCH_F_QK_NORM | ARCH_F_FINAL_SOFTCAP | ARCH_F_SWA |
                 ARCH_F_Q_PRESCALE,
     .swa_pattern = 6,
     .swa_needs_key = true},
    /* Phi-3 / 3.5 / 4-mini: fused qkv and gate+up, LongRoPE factors */
    {.name = "phi3",
     .rope = ARCH_ROPE_NEOX,
     .act = ARCH_ACT_SILU,
     .features = ARCH_F_FUSED_QKV | ARCH_F_FUSED_GATE_UP | ARCH_F_Q_PRESCALE | ARCH_F_ROPE_FACTORS},
    /* BERT encoders (bge, all-MiniLM, e5, mxbai): absolute positions, biases everywhere, GELU FFN, post-LayerNorm */
    {.name = "bert",
     .rope = ARCH_ROPE_NORM,
     .act = ARCH_ACT_GELU,
     .features = ARCH_F_ENCODER | ARCH_F_POS_EMBD | ARCH_F_QKV_BIAS | ARCH_F_PROJ_BIAS | ARCH_F_FFN_SEQ,
     .eps_key = "attention.layer_norm_epsilon"},
    /* nomic-embed-text: a BERT encoder with fused qkv, RoPE and SwiGLU */
    {.name = "nomic-bert",
     .rope = ARCH_ROPE_NEOX,
     .act = ARCH_ACT_SILU,
     .features = ARCH_F_ENCODER | ARCH_F_FUSED_QKV | ARCH_F_PROJ_BIAS,
     .eps_key = "attention.layer_norm_epsilon"},
};

const arch_t *arch_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof arch__table / sizeof arch__table[0]; i++)
        if (strlen(arch__table[i].name) == len && memcmp(arch__table[i].name, name, len) == 0) return &arch__table[i];
    return NULL;
}

const char *arch_names(void) {
    return "llama, qwen2, qwen2moe, qwen3, qwen3moe, gemma2, gemma3, phi3, bert, nomic-bert";
}

char *arch_feature_names(uint32_t features, char *buf, size_t len) {
    static const char *const names[] = {"qkv-bias",   "qk-norm",      "fused-qkv",     "fused-gate-up", "embd-scale",
                                        "post-norms", "attn-softcap", "final-softcap", "sliding-window", "moe",
                                        "tied-output", "q-prescale",  "rope-factors", "shared-expert",
                                        "encoder",    "pos-embd",     "proj-bias",     "ffn-seq"};
    size_t used = 0;
    if (len == 0) return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(features & (1u << i))) continue;
        int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= len - used) break;
        used += (size_t)w;
    }
    return buf;
}
