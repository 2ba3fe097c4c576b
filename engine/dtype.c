/* dtype.c — names and block geometry for the tensor types in dtype.h. */
#include "dtype.h"

#include <stddef.h>

static const char *const dtype__names[DT_COUNT] = {
    [0] = "F32",      [1] = "F16",     [2] = "Q4_0",    [3] = "Q4_1",    [4] = "Q4_2",
    [5] = "Q4_3",     [6] = "Q5_0",    [7] = "Q5_1",    [8] = "Q8_0",    [9] = "Q8_1",
    [10] = "Q2_K",    [11] = "Q3_K",   [12] = "Q4_K",   [13] = "Q5_K",   [14] = "Q6_K",
    [15] = "Q8_K",    [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S",
    [20] = "IQ4_NL",  [21] = "IQ3_S",  [22] = "IQ2_S",  [23] = "IQ4_XS", [24] = "I8",
    [25] = "I16",     [26] = "I32",    [27] = "I64",    [28] = "F64",    [29] = "IQ1_M",
    [30] = "BF16",    [31] = "Q4_0_4_4", [32] = "Q4_0_4_8", [33] = "Q4_0_8_8", [34] = "TQ1_0",
    [35] = "TQ2_0",   [36] = "IQ4_NL_4_4", [37] = "IQ4_NL_4_8", [38] = "IQ4_NL_8_8", [39] = "MXFP4",
};

const char *dtype_name(uint32_t id) {
    if (id < DT_COUNT && dtype__names[id]) return dtype__names[id];
    return "unknown";
}

bool dtype_supported(uint32_t id) {
    switch (id) {
    case DT_F32: case DT_F16: case DT_BF16: case DT_Q8_0: case DT_Q4_0: case DT_Q4_1: case DT_Q5_0: case DT_Q5_1:
    case DT_IQ4_NL: case DT_Q2_K: case DT_Q3_K: case DT_Q4_K: case DT_Q5_K: case DT_Q6_K:
        return true;
    default:
        return false;
    }
}

int64_t dtype_block_elems(uint32_t id) {
    switch (id) {
    case DT_F32: case DT_F16: case DT_BF16: return 1;
    case DT_Q8_0: return QK8_0;
    case DT_Q4_0: case DT_Q4_1: case DT_Q5_0: case DT_Q5_1: case DT_IQ4_NL: return 32;
    case DT_Q2_K: case DT_Q3_K: case DT_Q4_K: case DT_Q5_K: case DT_Q6_K: return QK_K;
    default: return 0;
    }
}

int64_t dtype_block_bytes(uint32_t id) {
    switch (id) {
    case DT_F32: return 4;
    case DT_F16: case DT_BF16: return 2;
    case DT_Q8_0: return 34;
    case DT_Q4_0: return 18;
    case DT_Q4_1: return 20;
    case DT_Q5_0: return 22;
    case DT_Q5_1: return 24;
    case DT_IQ4_NL: return 18;
    case DT_Q2_K: return Q2_K_BYTES;
    case DT_Q3_K: return Q3_K_BYTES;
    case DT_Q4_K: return Q4_K_BYTES;
    case DT_Q5_K: return Q5_K_BYTES;
    case DT_Q6_K: return Q6_K_BYTES;
    default: return 0;
    }
}

int64_t dtype_row_bytes(uint32_t id, int64_t n) {
    int64_t be = dtype_block_elems(id);
    if (be <= 0 || n < 0 || n % be != 0) return -1;
    return n / be * dtype_block_bytes(id);
}
