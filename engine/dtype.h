/*
 * dtype.h — tensor element types as GGUF numbers them (ggml's type ids), and their block geometry.
 *
 * Quantized types store a row as consecutive blocks; a block of `block_elems` values occupies `block_bytes`.
 * Only the types cinder computes with are "supported"; every other id still has a name so that a refusal can
 * say which type a file used. Constant data only: safe from any thread.
 */
#ifndef CINDER_DTYPE_H
#define CINDER_DTYPE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    DT_F32 = 0,
    DT_F16 = 1,
    DT_Q4_0 = 2,
    DT_Q4_1 = 3,
    DT_Q5_0 = 6,
    DT_Q5_1 = 7,
    DT_Q8_0 = 8,
    DT_Q2_K = 10,
    DT_Q3_K = 11,
    DT_Q4_K = 12,
    DT_Q5_K = 13,
    DT_Q6_K = 14,
    DT_IQ4_NL = 20,
    DT_BF16 = 30,
    DT_COUNT = 40 /* one past the largest id ggml has assigned */
} dtype_t;

/* Block geometry of the supported types. */
#define QK8_0 32  /* Q8_0: f16 scale + 32 int8 = 34 bytes */
#define QK4_0 32  /* Q4_0: f16 scale + 16 bytes of nibbles = 18 bytes */
#define QK4_1 32  /* Q4_1: f16 scale, f16 min + 16 bytes of nibbles = 20 bytes */
#define QK5_0 32  /* Q5_0: f16 scale + 4 bytes of 5th bits + 16 bytes of nibbles = 22 bytes */
#define QK5_1 32  /* Q5_1: f16 scale, f16 min + 4 bytes of 5th bits + 16 bytes of nibbles = 24 bytes */
#define QK4_NL 32 /* IQ4_NL: f16 scale + 16 bytes of nibbles indexing a 16-entry table = 18 bytes */
#define QK_K 256  /* K-quants: super-blocks of 256 values */
#define Q2_K_BYTES 84  /* 16 bytes of 4-bit scale/min pairs, 64 bytes of 2-bit quants, f16 d, f16 dmin */
#define Q3_K_BYTES 110 /* 32 bytes of high bits, 64 bytes of 2-bit quants, 12 bytes of 6-bit scales, f16 d */
#define Q4_K_BYTES 144 /* f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles */
#define Q5_K_BYTES 176 /* f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 32 bytes of 5th bits, 128 of nibbles */
#define Q6_K_BYTES 210 /* 128 bytes low nibbles, 64 bytes high bits, 16 int8 scales, f16 d */

/* The ggml name of a type id ("Q4_K", "IQ2_XXS"), or "unknown(<id>)"-style "unknown" for ids never assigned. */
const char *dtype_name(uint32_t id);

/* True for the types cinder loads and computes with: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL,
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K. */
bool dtype_supported(uint32_t id);

/* Values per block (1 for plain floats). Only meaningful for supported types; 0 otherwise. */
int64_t dtype_block_elems(uint32_t id);

/* Bytes per block. Only meaningful for supported types; 0 otherwise. */
int64_t dtype_block_bytes(uint32_t id);

/*
 * Bytes taken by a row of n values of a supported type, or -1 when n is not a whole number of blocks or the
 * type is unsupported. n must be >= 0 and small enough that the product cannot overflow (callers validate
 * dimensions first; gguf checks every product for overflow).
 */
int64_t dtype_row_bytes(uint32_t id, int64_t n);

#endif
