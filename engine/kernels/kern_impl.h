/*
 * kern_impl.h — internals shared by the files of engine/kernels/ (and by tests/unit/test_kernels*.c):
 * GGUF block layouts, the 8-bit activation formats, and the per-instruction-set function tables.
 *
 * Not part of the engine's API: other modules include kern.h only. Names use the kern__ prefix.
 *
 * Activation formats (made from F32 rows by the quant_* functions, consumed by the integer dot products):
 *  - q8a (for the 32-value block types: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL): a row of K values becomes K int8
 *    `qs` and, per block of 32, a float scale `d` (x ~= d * q) and the int32 sum `s` of the block's 32 values (used to
 *    undo the +128 / -8 offsets of the unsigned operand of vpdpbusd / pmaddubsw). Row j of a batch lives at qs + j*K,
 *    d + j*K/32, s + j*K/32.
 *  - q8k (for the K-quants Q2_K..Q6_K, like llama.cpp's Q8_K): per block of 256 values one float scale, 256
 *    int8 and the sums of each 16 consecutive values.
 * Both quantize symmetrically: d = max|x| / 127, q = round-to-nearest-even(x / d) in [-127, 127].
 */
#ifndef CINDER_KERN_IMPL_H
#define CINDER_KERN_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kern.h"

/* ---- GGUF block layouts (little-endian, packed; see dtype.h for sizes) --------------------------------- */

typedef struct {
    uint16_t d;       /* fp16 scale */
    int8_t qs[QK8_0]; /* x = d * qs[i] */
} kern__blk_q8_0;

typedef struct {
    uint16_t d;            /* fp16 scale */
    uint8_t qs[QK4_0 / 2]; /* x[i] = d * ((qs[i] & 15) - 8), x[i + 16] = d * ((qs[i] >> 4) - 8) */
} kern__blk_q4_0;

typedef struct {
    uint16_t d;           /* fp16 super-block scale of the 6-bit sub-block scales */
    uint16_t dmin;        /* fp16 super-block scale of the 6-bit sub-block mins */
    uint8_t scales[12];   /* 8 (scale, min) pairs of 6 bits each */
    uint8_t qs[QK_K / 2]; /* nibbles: 64-value chunk c holds values 64c..64c+31 low, 64c+32..64c+63 high */
} kern__blk_q4_k;

typedef struct {
    uint8_t ql[QK_K / 2];     /* low 4 bits */
    uint8_t qh[QK_K / 4];     /* high 2 bits */
    int8_t scales[QK_K / 16]; /* one per 16 values */
    uint16_t d;               /* fp16 super-block scale */
} kern__blk_q6_k;

typedef struct {
    uint16_t d;            /* fp16 scale */
    uint16_t m;            /* fp16 min */
    uint8_t qs[QK4_1 / 2]; /* x[i] = d * (qs[i] & 15) + m, x[i + 16] = d * (qs[i] >> 4) + m */
} kern__blk_q4_1;

typedef struct {
    uint16_t d;            /* fp16 scale */
    uint8_t qh[4];         /* bit i (little-endian u32) = 5th bit of value i */
    uint8_t qs[QK5_0 / 2]; /* low 4 bits as Q4_0; x[i] = d * (q5[i] - 16) */
} kern__blk_q5_0;

typedef struct {
    uint16_t d;            /* fp16 scale */
    uint16_t m;            /* fp16 min */
    uint8_t qh[4];         /* as Q5_0 */
    uint8_t qs[QK5_1 / 2]; /* as Q5_0; x[i] = d * q5[i] + m */
} kern__blk_q5_1;

typedef struct {
    uint16_t d;             /* fp16 scale */
    uint8_t qs[QK4_NL / 2]; /* nibbles as Q4_0, each an index into kern__iq4nl_values: x[i] = d * values[q] */
} kern__blk_iq4_nl;

typedef struct {
    uint8_t scales[QK_K / 16]; /* per 16 values: 4-bit scale (low) and 4-bit min (high) */
    uint8_t qs[QK_K / 4];      /* 2-bit quants: value 128h + 32s + l is bits 2s of qs[32h + l] */
    uint16_t d;                /* fp16 super-block scale of the scales */
    uint16_t dmin;             /* fp16 super-block scale of the mins */
} kern__blk_q2_k;

typedef struct {
    uint8_t hmask[QK_K / 8]; /* 3rd bits: value 32b + l is bit b of hmask[l] (set: +0, clear: -4) */
    uint8_t qs[QK_K / 4];    /* low 2 bits, laid out as Q2_K's */
    uint8_t scales[12];      /* 16 6-bit scales, offset by 32 */
    uint16_t d;              /* fp16 super-block scale */
} kern__blk_q3_k;

typedef struct {
    uint16_t d;           /* as Q4_K */
    uint16_t dmin;        /* as Q4_K */
    uint8_t scales[12];   /* as Q4_K */
    uint8_t qh[QK_K / 8]; /* 5th bits: value 32j + l (sub-block j) is bit j of qh[l] */
    uint8_t qs[QK_K / 2]; /* low 4 bits, laid out as Q4_K's */
} kern__blk_q5_k;

/* IQ4_NL's 16 values (the format's non-linear grid). */
static const int8_t kern__iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                              1,    13,   25,  38,  53,  69,  89,  113};

_Static_assert(sizeof(kern__blk_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(kern__blk_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(kern__blk_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(kern__blk_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(kern__blk_iq4_nl) == 18, "iq4_nl block");
_Static_assert(sizeof(kern__blk_q2_k) == Q2_K_BYTES, "q2_K block");
_Static_assert(sizeof(kern__blk_q3_k) == Q3_K_BYTES, "q3_K block");
_Static_assert(sizeof(kern__blk_q5_k) == Q5_K_BYTES, "q5_K block");
_Static_assert(sizeof(kern__blk_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(kern__blk_q4_k) == Q4_K_BYTES, "q4_K block");
_Static_assert(sizeof(kern__blk_q6_k) == Q6_K_BYTES, "q6_K block");

/* ---- activation formats --------------------------------------------------------------------------------- */

/* A batch of rows in q8a format (see the header comment). */
typedef struct {
    int8_t *qs;  /* (n, K) */
    float *d;    /* (n, K/32) */
    int32_t *s;  /* (n, K/32) */
    int64_t K;   /* values per row, a multiple of 32 */
    uint8_t *xu; /* (n, K) qs + 128 as unsigned bytes (qs ^ 0x80), made for a GEMM that reads it; else NULL */
    int32_t *h;  /* (n, K/32) sums of the first 16 qs of each block (Q2_K's GEMM: mins per 16 values); else NULL */
    int16_t *x16; /* (n, K) qs widened to int16, made for a GEMM that reads it (AVX2's 16-bit path); else NULL */
} kern__q8a_t;

typedef struct {
    float d; /* x ~= d * qs[i] */
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} kern__q8k_t;

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K block. */
static inline void kern__q4k_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/*
 * The 16 6-bit scales of a Q3_K block, offset removed (-32..31), in value order (scale g covers values
 * 16g..16g+15). As little-endian words a = bytes 0..3, b = 4..7, c = 8..11: scales 0..3 have low bits a & 0xf
 * and high bits c & 3, 4..7 b & 0xf and (c >> 2) & 3, 8..11 a >> 4 and (c >> 4) & 3, 12..15 b >> 4 and c >> 6.
 */
static inline void kern__q3k_scales(const uint8_t *s, int8_t out[16]) {
    uint32_t a, b, c;
    memcpy(&a, s, 4);
    memcpy(&b, s + 4, 4);
    memcpy(&c, s + 8, 4);
    const uint32_t w[4] = {(a & 0x0f0f0f0fu) | ((c & 0x03030303u) << 4),
                           (b & 0x0f0f0f0fu) | (((c >> 2) & 0x03030303u) << 4),
                           ((a >> 4) & 0x0f0f0f0fu) | (((c >> 4) & 0x03030303u) << 4),
                           ((b >> 4) & 0x0f0f0f0fu) | (((c >> 6) & 0x03030303u) << 4)};
    for (int g = 0; g < 16; g++)
        out[g] = (int8_t)((int)((w[g / 4] >> (8 * (g % 4))) & 0xff) - 32);
}

/* Which activation format a weight type's integer dot products take (KERN__ACT_F32: float dots). */
enum { KERN__ACT_F32 = 0, KERN__ACT_Q8A = 1, KERN__ACT_Q8K = 2 };
static inline int kern__act_format(dtype_t t) {
    switch (t) {
    case DT_Q8_0: case DT_Q4_0: case DT_Q4_1: case DT_Q5_0: case DT_Q5_1: case DT_IQ4_NL: return KERN__ACT_Q8A;
    case DT_Q2_K: case DT_Q3_K: case DT_Q4_K: case DT_Q5_K: case DT_Q6_K: return KERN__ACT_Q8K;
    default: return KERN__ACT_F32;
    }
}

/* Types the int8 GEMMs (kern__gemm_fn) take: every quantized type. */
static inline bool kern__gemm_type(dtype_t t) { return kern__act_format(t) != KERN__ACT_F32; }

/*
 * Asks for the bytes [p, p + n) to be brought into the cache, one prefetch per 64-byte line; a prefetch never
 * faults, so p may lie past the end of W. The multi-row kernels ask for the W rows one sub-block ahead of those
 * they multiply (mm__multi), so that memory is read while the core computes.
 */
static inline void kern__prefetch(const void *p, size_t n) {
    for (size_t o = 0; o < n; o += 64)
        __builtin_prefetch((const char *)p + o, 0, 3);
}

/* ---- function tables ------------------------------------------------------------------------------------ */

/*
 * y[i] = dot(row i of W, x) for i < nr, where the rows start at w and are row_bytes apart and hold K values.
 * x is `const float *` (K values) for F32/F16/BF16 weights, `const kern__q8a_t *` viewing ONE row for the
 * 32-value block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL), and `const kern__q8k_t *` (K/256 blocks) for
 * the K-quants (kern__act_format).
 */
typedef void (*kern__rowdot_fn)(const void *w, size_t row_bytes, int64_t nr, const void *x, int64_t K, float *y);

/*
 * q8a rows transposed for the multi-row dots, in vectors of 16 rows (v = row / 16, t = row % 16; rows past the
 * batch are zero): qt[((v * nb + b) * 8 + g) * 64 + 4 * t + e] = qs of row 16v + t at column 32b + 4g + e,
 * dt[(v * nb + b) * 16 + t] = its block scale d, st[...] = its block sum s, nb = K / 32. Made by matmul.c from q8a
 * rows.
 */
typedef struct {
    const int8_t *qt;  /* (nv, nb, 8, 16, 4) */
    const float *dt;   /* (nv, nb, 16) */
    const int32_t *st; /* (nv, nb, 16) */
    const int32_t *ht; /* (nv, nb, 16) sums of the first 16 qs of each block (types with 16-column scales); or NULL */
    int64_t K;         /* values per row, a multiple of 32 (of the weight's block for F16 / BF16) */
    const float *xf;   /* (nx, K) the F32 rows themselves, which F16 / BF16 weights take instead (qt.. unused) */
} kern__q8t_t;

/*
 * Several activation rows at once (moderate batches; with AVX-512 VNNI the 32-value block types Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, IQ4_NL, with AVX2 every quantized type, multi_avx2.c; F16 / BF16 at both, multi_f16_avx2.c, from the
 * F32 rows x->xf): Y[j * ldy + i] = dot(row i of W, x row j) for i < nr, j < nx, where x holds at least nx transposed rows and
 * the W rows start at w, row_bytes apart. W is read in place; each 4-byte piece of a weight row is multiplied by 16
 * activation rows with one instruction. Callers keep nr small enough for the rows to stay in L1 while the
 * activations pass over them.
 */
typedef void (*kern__rowdot_multi_fn)(const void *w, size_t row_bytes, int64_t nr, const kern__q8t_t *x, int64_t nx,
                                      float *Y, int64_t ldy);

/*
 * A few activation rows sharing each weight load (small batches; Q8_0, Q4_0, Q4_K and Q6_K, AVX2 and AVX-512
 * VNNI): Y[j * ldy + i] = dot(row i of W, activation row j of x) for i < nr, j < nx. x is `const kern__q8a_t *`
 * with the rows consecutive (qs + j * K, d and s + j * K / 32) for Q8_0 and Q4_0, and `const kern__q8k_t *`, nx
 * rows of K / 256 blocks one after the other, for the K-quants (kern__act_format). W is read in place, each weight
 * block unpacked once per group of up to 4 activation rows.
 */
typedef void (*kern__rowdot_nx_fn)(const void *w, size_t row_bytes, int64_t nr, const void *x, int64_t nx, float *Y,
                                   int64_t ldy);

/*
 * BODY(NXC, ...) with NXC = n (1-4) made a constant, one case each, so that an always-inline nx kernel gets its
 * activation row count as a constant: the dispatch of every rowdot_nx entry point, which takes the activation rows
 * in groups of 4 and the rest.
 */
#define KERN__NX_SWITCH(n, BODY, ...)                                                                                  \
    switch (n) {                                                                                                       \
    case 1: BODY(1, __VA_ARGS__); break;                                                                               \
    case 2: BODY(2, __VA_ARGS__); break;                                                                               \
    case 3: BODY(3, __VA_ARGS__); break;                                                                               \
    default: BODY(4, __VA_ARGS__); break;                                                                              \
    }

/*
 * Defines NAME, a kern__rowdot_nx_fn of the q8a types, from BODY(NX, Q4, w, rb, nr, x, Y, ldy), an always-inline
 * kernel for NX (1-4) activation rows of Q8_0 (Q4 = 0) or Q4_0 (Q4 = 1). Each SIMD file instantiates it with its
 * own BODY (the K-quants' entry points are in kq_body.h).
 */
#define KERN__NX_FN(NAME, BODY, Q4)                                                                                    \
    void NAME(const void *w, size_t rb, int64_t nr, const void *xv, int64_t nx, float *Y, int64_t ldy) {               \
        const kern__q8a_t *x = xv;                                                                                     \
        const int64_t nb = x->K / 32;                                                                                  \
        for (int64_t j = 0; j < nx; j += 4) {                                                                          \
            const kern__q8a_t xj = {.qs = x->qs + j * x->K, .d = x->d + j * nb, .s = x->s + j * nb, .K = x->K};        \
            KERN__NX_SWITCH(nx - j < 4 ? nx - j : 4, BODY, Q4, (const uint8_t *)w, rb, nr, &xj, Y + j * ldy, ldy)      \
        }                                                                                                              \
    }

/* n values of a type (whole blocks) to F32. */
typedef void (*kern__dequant_fn)(const void *src, float *dst, int64_t n);

/*
 * The int8 GEMM (gemm_avx512.c with VNNI, gemm_avx2.c without): Y[j][i] = dot(row i of W, X row j) for i < nr,
 * j < n, where W is a type kern__gemm_type accepts (rows row_bytes apart from w), X is n q8a rows (with xu made when
 * the ISA table's gemm_xu says the GEMM reads it, x16 when it has gemm_widen, and h for Q2_K), and Y has leading dimension ldy. pack is scratch of
 * kern__gemm_pack_bytes(K) bytes, 64-byte aligned.
 */
typedef void (*kern__gemm_fn)(dtype_t t, const void *w, size_t row_bytes, int64_t nr, const kern__q8a_t *x, int64_t n,
                              float *Y, int64_t ldy, void *pack);

typedef struct {
    const char *name;
    kern__rowdot_fn rowdot[DT_COUNT];             /* NULL for unsupported types */
    kern__rowdot_multi_fn rowdot_multi[DT_COUNT]; /* NULL where there is none */
    kern__rowdot_nx_fn rowdot_nx[DT_COUNT];       /* NULL where there is none */
    int level;                                    /* KERN__ISA_* of this table */
    kern__dequant_fn dequant[DT_COUNT];
    /* x (K,) -> q8a; also writes xu = qs ^ 0x80 (the GEMM's unsigned copy) unless xu is NULL */
    void (*quant_q8a)(const float *x, int64_t K, int8_t *qs, float *d, int32_t *s, uint8_t *xu);
    void (*quant_q8k)(const float *x, int64_t K, kern__q8k_t *y);
    void (*f32_to_f16)(const float *src, uint16_t *dst, int64_t n);
    kern__gemm_fn gemm_q8; /* NULL where there is no int8 GEMM */
    bool gemm_xu;          /* gemm_q8 reads the activations' unsigned copy xu (AVX-512 VNNI's vpdpbusd does) */
    /* gemm_q8 reads the activations widened to int16, x16 (AVX2's vpmaddwd does), made by this: dst (n,) = src */
    void (*gemm_widen)(const int8_t *src, int16_t *dst, int64_t n);
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    void (*axpy_f32)(float a, const float *x, float *y, int64_t n);
    double (*sumsq_f32)(const float *x, int64_t n);                                      /* in double, as ggml */
    void (*scale_mul_f32)(const float *x, const float *w, float s, float *y, int64_t n); /* y = x*s*w */
    void (*silu_mul)(const float *gate, const float *up, float *out, int64_t n);
    /* out = gelu(x) (* up when up is not NULL) by the F16 table kern__gelu_table (see kern_gelu_mul) */
    void (*gelu)(const float *x, const float *up, float *out, int64_t n, const float *table);
    void (*layernorm)(const float *x, const float *w, const float *b, float eps, float *y, int64_t n); /* n >= 1 */
    float (*exp_sub_sum)(float *x, float m, int64_t n); /* x = exp(x - m), returns the sum */
    float (*max_f32)(const float *x, int64_t n);
    void (*exp_weights)(const float *l, int64_t n, float m, float t, float *p); /* see kern_exp_weights */
    /* attention over an F16 cache (attn.c): up to 4 heads sharing one key/value head per call */
    void (*attn_round_f16)(float *x, int32_t n);
    void (*attn_scores_heads)(const float *q, int32_t g, const uint16_t *k, size_t stride, int32_t n, int32_t hd,
                              float scale, float *scores, size_t ss);
    void (*attn_accum_heads)(const float *p, size_t ps, int32_t g, const uint16_t *v, size_t stride, int32_t n,
                             int32_t hd, float *out);
} kern__isa_t;

enum { KERN__ISA_SCALAR = 0, KERN__ISA_AVX2 = 1, KERN__ISA_AVX512 = 2 };

/* The table in use now (chosen at first use from the CPU; see kern__force_isa). Never NULL. */
const kern__isa_t *kern__isa(void);

/*
 * Tests: caps the instruction set at `level` (a KERN__ISA_* value; the CPU's best if higher) and returns the
 * level now in effect. kern__force_scalar(true) is kern__force_isa(KERN__ISA_SCALAR); false restores the best.
 * Not synchronised with running kernels: call between matmuls.
 */
int kern__force_isa(int level);
void kern__force_scalar(bool on);

/* The best level this CPU supports. */
int kern__cpu_isa(void);

/* Tests: whether kern_matmul takes the row dots (ROWDOT, matmul.c) for type t at batch size n with the table in use
 * (the K-quants' row dots take q8k activations, their other paths q8a). */
bool kern__rowdot_path(dtype_t t, int64_t n);

/* Tests: kern_matmul takes the multi-row dots at every batch size for the types the table has them for (on), or
 * chooses by the thresholds again (off). Not synchronised with running kernels: call between matmuls. */
void kern__force_multi(bool on);

/* Bytes of the packing scratch kern__gemm_fn needs for rows of K values. */
size_t kern__gemm_pack_bytes(int64_t K);
#define KERN__GEMM_ROWS 32 /* rows the GEMM packs at a time; callers split work in multiples of this */

/* ---- implementations (quant.c: portable; *_avx2.c, *_avx512.c: SIMD) ------------------------------------- */

void kern__quant_q8a_scalar(const float *x, int64_t K, int8_t *qs, float *d, int32_t *s, uint8_t *xu);
void kern__quant_q8k_scalar(const float *x, int64_t K, kern__q8k_t *y);
void kern__f32_to_f16_scalar(const float *src, uint16_t *dst, int64_t n);

void kern__dequant_f32(const void *src, float *dst, int64_t n);
void kern__dequant_f16_scalar(const void *src, float *dst, int64_t n);
void kern__dequant_bf16_scalar(const void *src, float *dst, int64_t n);
void kern__dequant_q8_0_scalar(const void *src, float *dst, int64_t n);
void kern__dequant_q4_0_scalar(const void *src, float *dst, int64_t n);
void kern__dequant_q4_k_scalar(const void *src, float *dst, int64_t n);
void kern__dequant_q6_k_scalar(const void *src, float *dst, int64_t n);
void kern__dequant_q4_1_scalar(const void *src, float *dst, int64_t n);
void kern__dequant_q5_0_scalar(const void *src, float *dst, int64_t n);
void kern__dequant_q5_1_scalar(const void *src, float *dst, int64_t n);
void kern__dequant_iq4_nl_scalar(const void *src, float *dst, int64_t n);
void kern__dequant_q2_k_scalar(const void *src, float *dst, int64_t n);
void kern__dequant_q3_k_scalar(const void *src, float *dst, int64_t n);
void kern__dequant_q5_k_scalar(const void *src, float *dst, int64_t n);

void kern__rowdot_f32_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_f16_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_bf16_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q8_0_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q4_0_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q4_k_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q6_k_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q4_1_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q5_0_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q5_1_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_iq4_nl_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q2_k_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q3_k_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q5_k_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);

/* ops.c */
float kern__dot_f32_scalar(const float *a, const float *b, int64_t n);
void kern__axpy_f32_scalar(float a, const float *x, float *y, int64_t n);
double kern__sumsq_f32_scalar(const float *x, int64_t n);
void kern__scale_mul_f32_scalar(const float *x, const float *w, float s, float *y, int64_t n);
void kern__silu_mul_scalar(const float *gate, const float *up, float *out, int64_t n);
void kern__gelu_scalar(const float *x, const float *up, float *out, int64_t n, const float *table);
void kern__layernorm_scalar(const float *x, const float *w, const float *b, float eps, float *y, int64_t n);
float kern__exp_sub_sum_scalar(float *x, float m, int64_t n);
float kern__max_f32_scalar(const float *x, int64_t n);
void kern__exp_weights_scalar(const float *l, int64_t n, float m, float t, float *p);
/* kern_exp_det's constants (exp_det.c), shared with its AVX2 twin: log2(e), the round-to-integer shifter 1.5 * 2^52,
   and ln 2 split into 32 significant bits and the rest. */
#define KERN__EXP_LOG2E   1.44269504088896338700
#define KERN__EXP_SHIFTER 0x1.8p52
#define KERN__EXP_LN2_HI  6.93147180369123816490e-01
#define KERN__EXP_LN2_LO  1.90821492927058770002e-10

/* dot_avx2.c (AVX2 + FMA + F16C) */
void kern__quant_q8a_avx2(const float *x, int64_t K, int8_t *qs, float *d, int32_t *s, uint8_t *xu);
void kern__quant_q8k_avx2(const float *x, int64_t K, kern__q8k_t *y);
void kern__f32_to_f16_avx2(const float *src, uint16_t *dst, int64_t n);
void kern__dequant_f16_avx2(const void *src, float *dst, int64_t n);
void kern__dequant_bf16_avx2(const void *src, float *dst, int64_t n);
void kern__dequant_q8_0_avx2(const void *src, float *dst, int64_t n);
void kern__dequant_q4_0_avx2(const void *src, float *dst, int64_t n);
void kern__rowdot_f32_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_f16_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_bf16_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q8_0_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q4_0_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_nx_q8_0_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t nx, float *Y,
                               int64_t ldy);
void kern__rowdot_nx_q4_0_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t nx, float *Y,
                               int64_t ldy);
void kern__rowdot_q4_k_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q6_k_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_nx_q4_k_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t nx, float *Y,
                               int64_t ldy);
void kern__rowdot_nx_q6_k_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t nx, float *Y,
                               int64_t ldy);

/* dot_more_avx2.c, dot_more_avx512.c: the other types' row dots (bodies in q32_body.h and kq_body.h) */
#define KERN__DECL_ROWDOTS(SFX)                                                                                        \
    void kern__rowdot_q4_1_##SFX(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);            \
    void kern__rowdot_q5_0_##SFX(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);            \
    void kern__rowdot_q5_1_##SFX(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);            \
    void kern__rowdot_iq4_nl_##SFX(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);          \
    void kern__rowdot_q2_k_##SFX(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);            \
    void kern__rowdot_q3_k_##SFX(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);            \
    void kern__rowdot_q5_k_##SFX(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
KERN__DECL_ROWDOTS(avx2)
KERN__DECL_ROWDOTS(avx512)

/* ops_avx2.c */
float kern__dot_f32_avx2(const float *a, const float *b, int64_t n);
void kern__axpy_f32_avx2(float a, const float *x, float *y, int64_t n);
double kern__sumsq_f32_avx2(const float *x, int64_t n);
void kern__scale_mul_f32_avx2(const float *x, const float *w, float s, float *y, int64_t n);
void kern__silu_mul_avx2(const float *gate, const float *up, float *out, int64_t n);
void kern__gelu_avx2(const float *x, const float *up, float *out, int64_t n, const float *table);
void kern__layernorm_avx2(const float *x, const float *w, const float *b, float eps, float *y, int64_t n);
float kern__exp_sub_sum_avx2(float *x, float m, int64_t n);
float kern__max_f32_avx2(const float *x, int64_t n);
void kern__exp_weights_avx2(const float *l, int64_t n, float m, float t, float *p);

/* gemm_avx2.c (AVX2 + FMA + F16C) */
void kern__widen_i8_avx2(const int8_t *src, int16_t *dst, int64_t n);
void kern__gemm_q8_avx2(dtype_t t, const void *w, size_t row_bytes, int64_t nr, const kern__q8a_t *x, int64_t n,
                        float *Y, int64_t ldy, void *pack);

/* multi_avx2.c, multi_f16_avx2.c (AVX2 + FMA + F16C): the multi-row dots of every quantized type, F16, BF16 */
void kern__rowdot_multi_q8_0_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
    int64_t ldy);
void kern__rowdot_multi_q4_0_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
    int64_t ldy);
void kern__rowdot_multi_q4_1_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
    int64_t ldy);
void kern__rowdot_multi_q5_0_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
    int64_t ldy);
void kern__rowdot_multi_q5_1_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
    int64_t ldy);
void kern__rowdot_multi_iq4_nl_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
    int64_t ldy);
void kern__rowdot_multi_q2_k_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
    int64_t ldy);
void kern__rowdot_multi_q3_k_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
    int64_t ldy);
void kern__rowdot_multi_q4_k_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
    int64_t ldy);
void kern__rowdot_multi_q5_k_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
    int64_t ldy);
void kern__rowdot_multi_q6_k_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
    int64_t ldy);
void kern__rowdot_multi_f16_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
                                 int64_t ldy);
void kern__rowdot_multi_bf16_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
                                  int64_t ldy);

/* dot_avx512.c, gemm_avx512.c (AVX-512 F/BW/VL/DQ + VNNI) */
void kern__rowdot_q8_0_avx512(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_nx_q8_0_avx512(const void *w, size_t rb, int64_t nr, const void *x, int64_t nx, float *Y,
                                 int64_t ldy);
void kern__rowdot_nx_q4_0_avx512(const void *w, size_t rb, int64_t nr, const void *x, int64_t nx, float *Y,
                                 int64_t ldy);
void kern__rowdot_q4_0_avx512(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q4_k_avx512(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_q6_k_avx512(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y);
void kern__rowdot_nx_q4_k_avx512(const void *w, size_t rb, int64_t nr, const void *x, int64_t nx, float *Y,
                                 int64_t ldy);
void kern__rowdot_nx_q6_k_avx512(const void *w, size_t rb, int64_t nr, const void *x, int64_t nx, float *Y,
                                 int64_t ldy);
void kern__rowdot_multi_q8_0_avx512(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
                                    int64_t ldy);
void kern__rowdot_multi_q4_0_avx512(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
                                    int64_t ldy);
void kern__rowdot_multi_q4_1_avx512(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
                                    int64_t ldy);
void kern__rowdot_multi_q5_0_avx512(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
                                    int64_t ldy);
void kern__rowdot_multi_q5_1_avx512(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
                                    int64_t ldy);
void kern__rowdot_multi_iq4_nl_avx512(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx,
                                      float *Y, int64_t ldy);
void kern__gemm_q8_avx512(dtype_t t, const void *w, size_t row_bytes, int64_t nr, const kern__q8a_t *x, int64_t n,
                          float *Y, int64_t ldy, void *pack);

/* attn.c, attn_avx2.c: attention over an F16 cache (g <= 4 heads per call) */
void kern__attn_round_f16_scalar(float *x, int32_t n);
void kern__attn_scores_heads_scalar(const float *q, int32_t g, const uint16_t *k, size_t stride, int32_t n, int32_t hd,
                                    float scale, float *scores, size_t ss);
void kern__attn_accum_heads_scalar(const float *p, size_t ps, int32_t g, const uint16_t *v, size_t stride, int32_t n,
                                   int32_t hd, float *out);
void kern__attn_round_f16_avx2(float *x, int32_t n);
void kern__attn_scores_heads_avx2(const float *q, int32_t g, const uint16_t *k, size_t stride, int32_t n, int32_t hd,
                                  float scale, float *scores, size_t ss);
void kern__attn_accum_heads_avx2(const float *p, size_t ps, int32_t g, const uint16_t *v, size_t stride, int32_t n,
                                 int32_t hd, float *out);

#endif
