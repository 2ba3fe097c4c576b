/*
 * isa.c — run-time choice of the instruction set the kernels use.
 *
 * Three function tables: portable C, AVX2 (+FMA, F16C; with multi-row dots of every quantized type and an int8
 * GEMM), and AVX-512 VNNI (which replaces the int8 dot products, the multi-row dots of the 32-value block types and
 * the int8 GEMM of the AVX2 table; its K-quants keep no multi-row dots). The best one the CPU and OS
 * support is chosen at first use; tests can cap it with kern__force_isa to compare the paths. This file is
 * compiled for baseline x86-64 and only takes addresses of the SIMD functions, so nothing here executes an
 * instruction the CPU lacks.
 */
#include <stdatomic.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "kern_impl.h"

/* The types whose dequantization has no SIMD version (it runs for embedding rows and for Q2_K prompts only). */
#define ISA__DEQUANT_MORE                                                                                              \
    [DT_Q4_1] = kern__dequant_q4_1_scalar, [DT_Q5_0] = kern__dequant_q5_0_scalar,                                     \
    [DT_Q5_1] = kern__dequant_q5_1_scalar, [DT_IQ4_NL] = kern__dequant_iq4_nl_scalar,                                 \
    [DT_Q2_K] = kern__dequant_q2_k_scalar, [DT_Q3_K] = kern__dequant_q3_k_scalar,                                     \
    [DT_Q5_K] = kern__dequant_q5_k_scalar

/* The row dots of the types added after the first four quantized ones, per ISA suffix. */
#define ISA__ROWDOT_MORE(SFX)                                                                                          \
    [DT_Q4_1] = kern__rowdot_q4_1_##SFX, [DT_Q5_0] = kern__rowdot_q5_0_##SFX, [DT_Q5_1] = kern__rowdot_q5_1_##SFX,   \
    [DT_IQ4_NL] = kern__rowdot_iq4_nl_##SFX, [DT_Q2_K] = kern__rowdot_q2_k_##SFX,                                     \
    [DT_Q3_K] = kern__rowdot_q3_k_##SFX, [DT_Q5_K] = kern__rowdot_q5_k_##SFX

static const kern__isa_t isa__scalar = {
    .name = "scalar",
    .level = KERN__ISA_SCALAR,
    .rowdot =
        {
            [DT_F32] = kern__rowdot_f32_scalar,
            [DT_F16] = kern__rowdot_f16_scalar,
            [DT_BF16] = kern__rowdot_bf16_scalar,
            [DT_Q8_0] = kern__rowdot_q8_0_scalar,
            [DT_Q4_0] = kern__rowdot_q4_0_scalar,
            [DT_Q4_K] = kern__rowdot_q4_k_scalar,
            [DT_Q6_K] = kern__rowdot_q6_k_scalar,
            [DT_Q4_1] = kern__rowdot_q4_1_scalar,
            [DT_Q5_0] = kern__rowdot_q5_0_scalar,
            [DT_Q5_1] = kern__rowdot_q5_1_scalar,
            [DT_IQ4_NL] = kern__rowdot_iq4_nl_scalar,
            [DT_Q2_K] = kern__rowdot_q2_k_scalar,
            [DT_Q3_K] = kern__rowdot_q3_k_scalar,
            [DT_Q5_K] = kern__rowdot_q5_k_scalar,
        },
    .dequant =
        {
            [DT_F32] = kern__dequant_f32,
            [DT_F16] = kern__dequant_f16_scalar,
            [DT_BF16] = kern__dequant_bf16_scalar,
            [DT_Q8_0] = kern__dequant_q8_0_scalar,
            [DT_Q4_0] = kern__dequant_q4_0_scalar,
            [DT_Q4_K] = kern__dequant_q4_k_scalar,
            [DT_Q6_K] = kern__dequant_q6_k_scalar,
            ISA__DEQUANT_MORE,
        },
    .quant_q8a = kern__quant_q8a_scalar,
    .quant_q8k = kern__quant_q8k_scalar,
    .f32_to_f16 = kern__f32_to_f16_scalar,
    .gemm_q8 = NULL,
    .dot_f32 = kern__dot_f32_scalar,
    .axpy_f32 = kern__axpy_f32_scalar,
    .sumsq_f32 = kern__sumsq_f32_scalar,
    .scale_mul_f32 = kern__scale_mul_f32_scalar,
    .silu_mul = kern__silu_mul_scalar,
    .gelu = kern__gelu_scalar,
    .layernorm = kern__layernorm_scalar,
    .exp_sub_sum = kern__exp_sub_sum_scalar,
    .max_f32 = kern__max_f32_scalar,
    .exp_weights = kern__exp_weights_scalar,
    .attn_round_f16 = kern__attn_round_f16_scalar,
    .attn_scores_heads = kern__attn_scores_heads_scalar,
    .attn_accum_heads = kern__attn_accum_heads_scalar,
};

#define ISA__AVX2_COMMON                                                                                               \
    .dequant =                                                                                                         \
        {                                                                                                              \
            [DT_F32] = kern__dequant_f32,          [DT_F16] = kern__dequant_f16_avx2,                                  \
            [DT_BF16] = kern__dequant_bf16_avx2,   [DT_Q8_0] = kern__dequant_q8_0_avx2,                                \
            [DT_Q4_0] = kern__dequant_q4_0_avx2,   [DT_Q4_K] = kern__dequant_q4_k_scalar,                              \
            [DT_Q6_K] = kern__dequant_q6_k_scalar, ISA__DEQUANT_MORE,                                                  \
    },                                                                                                                 \
    .quant_q8a = kern__quant_q8a_avx2, .quant_q8k = kern__quant_q8k_avx2, .dot_f32 = kern__dot_f32_avx2,               \
    .f32_to_f16 = kern__f32_to_f16_avx2, .axpy_f32 = kern__axpy_f32_avx2, .sumsq_f32 = kern__sumsq_f32_avx2,           \
    .scale_mul_f32 = kern__scale_mul_f32_avx2, .silu_mul = kern__silu_mul_avx2, .gelu = kern__gelu_avx2,               \
    .layernorm = kern__layernorm_avx2, .exp_sub_sum = kern__exp_sub_sum_avx2,                                          \
    .max_f32 = kern__max_f32_avx2, .exp_weights = kern__exp_weights_avx2,                                            \
    .attn_round_f16 = kern__attn_round_f16_avx2,                                                                     \
    .attn_scores_heads = kern__attn_scores_heads_avx2, .attn_accum_heads = kern__attn_accum_heads_avx2

static const kern__isa_t isa__avx2 = {
    .name = "avx2",
    .level = KERN__ISA_AVX2,
    .rowdot =
        {
            [DT_F32] = kern__rowdot_f32_avx2,
            [DT_F16] = kern__rowdot_f16_avx2,
            [DT_BF16] = kern__rowdot_bf16_avx2,
            [DT_Q8_0] = kern__rowdot_q8_0_avx2,
            [DT_Q4_0] = kern__rowdot_q4_0_avx2,
            [DT_Q4_K] = kern__rowdot_q4_k_avx2,
            [DT_Q6_K] = kern__rowdot_q6_k_avx2,
            ISA__ROWDOT_MORE(avx2),
        },
    .rowdot_multi =
        {
            [DT_Q8_0] = kern__rowdot_multi_q8_0_avx2,
            [DT_Q4_0] = kern__rowdot_multi_q4_0_avx2,
            [DT_Q4_1] = kern__rowdot_multi_q4_1_avx2,
            [DT_Q5_0] = kern__rowdot_multi_q5_0_avx2,
            [DT_Q5_1] = kern__rowdot_multi_q5_1_avx2,
            [DT_IQ4_NL] = kern__rowdot_multi_iq4_nl_avx2,
            [DT_Q2_K] = kern__rowdot_multi_q2_k_avx2,
            [DT_Q3_K] = kern__rowdot_multi_q3_k_avx2,
            [DT_Q4_K] = kern__rowdot_multi_q4_k_avx2,
            [DT_Q5_K] = kern__rowdot_multi_q5_k_avx2,
            [DT_Q6_K] = kern__rowdot_multi_q6_k_avx2,
            [DT_F16] = kern__rowdot_multi_f16_avx2,
            [DT_BF16] = kern__rowdot_multi_bf16_avx2,
        },
    .rowdot_nx =
        {
            [DT_Q8_0] = kern__rowdot_nx_q8_0_avx2,
            [DT_Q4_0] = kern__rowdot_nx_q4_0_avx2,
            [DT_Q4_K] = kern__rowdot_nx_q4_k_avx2,
            [DT_Q6_K] = kern__rowdot_nx_q6_k_avx2,
        },
    .gemm_q8 = kern__gemm_q8_avx2,
    .gemm_widen = kern__widen_i8_avx2,
    ISA__AVX2_COMMON,
};

static const kern__isa_t isa__avx512 = {
    .name = "avx512vnni",
    .level = KERN__ISA_AVX512,
    .rowdot =
        {
            [DT_F32] = kern__rowdot_f32_avx2,
            [DT_F16] = kern__rowdot_f16_avx2,
            [DT_BF16] = kern__rowdot_bf16_avx2,
            [DT_Q8_0] = kern__rowdot_q8_0_avx512,
            [DT_Q4_0] = kern__rowdot_q4_0_avx512,
            [DT_Q4_K] = kern__rowdot_q4_k_avx512,
            [DT_Q6_K] = kern__rowdot_q6_k_avx512,
            ISA__ROWDOT_MORE(avx512),
        },
    .rowdot_multi =
        {
            [DT_Q8_0] = kern__rowdot_multi_q8_0_avx512,
            [DT_Q4_0] = kern__rowdot_multi_q4_0_avx512,
            [DT_Q4_1] = kern__rowdot_multi_q4_1_avx512,
            [DT_Q5_0] = kern__rowdot_multi_q5_0_avx512,
            [DT_Q5_1] = kern__rowdot_multi_q5_1_avx512,
            [DT_IQ4_NL] = kern__rowdot_multi_iq4_nl_avx512,
            [DT_F16] = kern__rowdot_multi_f16_avx2,
            [DT_BF16] = kern__rowdot_multi_bf16_avx2,
        },
    .rowdot_nx =
        {
            [DT_Q8_0] = kern__rowdot_nx_q8_0_avx512,
            [DT_Q4_0] = kern__rowdot_nx_q4_0_avx512,
            [DT_Q4_K] = kern__rowdot_nx_q4_k_avx512,
            [DT_Q6_K] = kern__rowdot_nx_q6_k_avx512,
        },
    .gemm_q8 = kern__gemm_q8_avx512,
    .gemm_xu = true,
    ISA__AVX2_COMMON,
};

static const kern__isa_t *const isa__tables[] = {&isa__scalar, &isa__avx2, &isa__avx512};

static _Atomic int isa__level = -1; /* the table in use; -1 until first use */

bool kern_cpu_has_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    /* F16C from CPUID leaf 1, ECX bit 29: clang before 16 does not know __builtin_cpu_supports("f16c") */
    unsigned a = 0, b = 0, c = 0, d = 0;
    const bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
    return f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

static int isa__hw_level(void) {
#if defined(__x86_64__) || defined(__i386__)
    if (!kern_cpu_has_avx2()) return KERN__ISA_SCALAR;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni"))
        return KERN__ISA_AVX512;
    return KERN__ISA_AVX2;
#else
    return KERN__ISA_SCALAR;
#endif
}

/* The CPU's level, capped by the environment variable CINDER_ISA (a level's name) when it names a lower one: the
   process then behaves as on a CPU without the higher instructions (tests and benchmarks of the AVX2 level on an
   AVX-512 machine). Unknown names are ignored. */
int kern__cpu_isa(void) {
    int level = isa__hw_level();
    const char *cap = getenv("CINDER_ISA");
    if (cap)
        for (int i = 0; i < level; i++)
            if (!strcmp(cap, isa__tables[i]->name)) level = i;
    return level;
}

const kern__isa_t *kern__isa(void) {
    int level = atomic_load_explicit(&isa__level, memory_order_relaxed);
    if (level < 0) { /* first use; a race only makes two threads store the same value */
        level = kern__cpu_isa();
        atomic_store_explicit(&isa__level, level, memory_order_relaxed);
    }
    return isa__tables[level];
}

int kern__force_isa(int level) {
    int cpu = kern__cpu_isa();
    if (level < KERN__ISA_SCALAR) level = KERN__ISA_SCALAR;
    if (level > cpu) level = cpu;
    atomic_store_explicit(&isa__level, level, memory_order_relaxed);
    return level;
}

void kern__force_scalar(bool on) { kern__force_isa(on ? KERN__ISA_SCALAR : KERN__ISA_AVX512); }

const char *kern_isa_name(void) { return kern__isa()->name; }

const char *kern_cap_isa(const char *name) {
    int level = -1;
    if (!strcmp(name, "auto")) level = KERN__ISA_AVX512;
    for (int i = 0; i < (int)(sizeof isa__tables / sizeof *isa__tables); i++)
        if (!strcmp(name, isa__tables[i]->name)) level = i;
    if (level < 0) return NULL;
    return isa__tables[kern__force_isa(level)]->name;
}
