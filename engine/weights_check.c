/*
 * weights_check.c — the finiteness rules of weights_check.h and the scan that applies them.
 *
 * A float is non-finite when its exponent field is all ones (F32 0x7f800000, F16 0x7c00, BF16 0x7f80); NaN when
 * its mantissa is non-zero too. Plain float tensors are scanned eight bytes at a time: a lane of the masked word
 * equals the exponent mask exactly when that element is non-finite, found with the "has a zero lane" bit trick
 * on (word & mask) ^ mask; only a word with a hit is looked at element by element. Block types are scanned block
 * by block, reading only their scale fields (the loads still touch every cache line, which is what the cost is).
 */
#include "weights_check.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

typedef enum { WCHECK__F32, WCHECK__F16, WCHECK__BF16 } wcheck__kind_t;

/* Where one type keeps its floats: fields of kind at these byte offsets of each unit of stride bytes (a plain
 * float type: one field, the element itself, at offset 0). */
typedef struct {
    uint32_t type;   /* ggml type id (dtype_t) */
    uint16_t stride; /* bytes per element or block; equals dtype_block_bytes(type) */
    uint8_t kind;    /* wcheck__kind_t of the fields */
    uint8_t n_fields;
    struct {
        uint16_t offset;  /* bytes from the start of the block */
        const char *name; /* as ggml names the field */
    } field[2];
} wcheck__rule_t;

/* One line per type. The block layouts are ggml's (see dtype.h): the F16 super-block scale d, and dmin (K-quants)
 * or m (Q4_1, Q5_1) where the type has one. Types dtype.h does not load yet are listed too, so that adding one
 * there needs no change here; the unit test checks that every supported type has its line. */
static const wcheck__rule_t wcheck__rules[] = {
    {0 /* F32 */, 4, WCHECK__F32, 1, {{0, "value"}}},
    {1 /* F16 */, 2, WCHECK__F16, 1, {{0, "value"}}},
    {30 /* BF16 */, 2, WCHECK__BF16, 1, {{0, "value"}}},
    {2 /* Q4_0: d, 16 B nibbles */, 18, WCHECK__F16, 1, {{0, "d"}}},
    {3 /* Q4_1: d, m, 16 B nibbles */, 20, WCHECK__F16, 2, {{0, "d"}, {2, "m"}}},
    {6 /* Q5_0: d, 4 B high bits, 16 B nibbles */, 22, WCHECK__F16, 1, {{0, "d"}}},
    {7 /* Q5_1: d, m, 4 B high bits, 16 B nibbles */, 24, WCHECK__F16, 2, {{0, "d"}, {2, "m"}}},
    {8 /* Q8_0: d, 32 int8 */, 34, WCHECK__F16, 1, {{0, "d"}}},
    {10 /* Q2_K: 16 B scales, 64 B quants, d, dmin */, 84, WCHECK__F16, 2, {{80, "d"}, {82, "dmin"}}},
    {11 /* Q3_K: 32 B hmask, 64 B quants, 12 B scales, d */, 110, WCHECK__F16, 1, {{108, "d"}}},
    {12 /* Q4_K: d, dmin, 12 B scales, 128 B nibbles */, 144, WCHECK__F16, 2, {{0, "d"}, {2, "dmin"}}},
    {13 /* Q5_K: d, dmin, 12 B scales, 32 B high bits, 128 B nibbles */, 176, WCHECK__F16, 2, {{0, "d"}, {2, "dmin"}}},
    {14 /* Q6_K: 128 B low, 64 B high, 16 int8 scales, d */, 210, WCHECK__F16, 1, {{208, "d"}}},
    {20 /* IQ4_NL: d, 16 B nibbles */, 18, WCHECK__F16, 1, {{0, "d"}}},
};

static const wcheck__rule_t *wcheck__rule(uint32_t id) {
    for (size_t i = 0; i < sizeof wcheck__rules / sizeof wcheck__rules[0]; i++)
        if (wcheck__rules[i].type == id) {
            /* a layout that disagrees with dtype.h's block size is no rule at all (caught by the unit test) */
            const int64_t bb = dtype_block_bytes(id);
            return bb == 0 || bb == wcheck__rules[i].stride ? &wcheck__rules[i] : NULL;
        }
    return NULL;
}

bool wcheck_has_rule(uint32_t id) { return wcheck__rule(id) != NULL; }

/* Exponent mask and width in bytes of a kind. */
static uint32_t wcheck__exp(wcheck__kind_t k) { return k == WCHECK__F32 ? 0x7f800000u : k == WCHECK__F16 ? 0x7c00u : 0x7f80u; }
static int wcheck__width(wcheck__kind_t k) { return k == WCHECK__F32 ? 4 : 2; }

static uint32_t wcheck__load(const uint8_t *p, int width) {
    if (width == 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* "NaN", "inf" or "-inf" for a non-finite value of kind k. */
static const char *wcheck__what(uint32_t v, wcheck__kind_t k) {
    const uint32_t e = wcheck__exp(k), sign = k == WCHECK__F32 ? 0x80000000u : 0x8000u;
    const uint32_t mant = (k == WCHECK__F32 ? 0xffffffffu : 0xffffu) & ~e & ~sign;
    if (v & mant) return "NaN";
    return v & sign ? "-inf" : "inf";
}

/*
 * Index of the first non-finite element of a plain float array of n elements of kind k, or -1. Eight bytes at a
 * time: with x = (word & M) ^ M, where M repeats the exponent mask in every lane, an element is non-finite iff
 * its lane of x is zero; (x - ONES) & ~x & HIGHS has a lane's top bit set when some lane at or below it is zero
 * (a borrow can only run upwards from a true zero lane), so a hit is exact about the word, and the word is then
 * searched element by element.
 */
static int64_t wcheck__scan_plain(const uint8_t *p, int64_t n, wcheck__kind_t k) {
    const int w = wcheck__width(k);
    const uint32_t e = wcheck__exp(k);
    const uint64_t M = w == 4 ? ((uint64_t)e << 32 | e) : (uint64_t)e * 0x0001000100010001ull;
    const uint64_t ONES = w == 4 ? 0x0000000100000001ull : 0x0001000100010001ull;
    const uint64_t HIGHS = w == 4 ? 0x8000000080000000ull : 0x8000800080008000ull;
    const int per = 8 / w;
    int64_t i = 0;
    for (; i + per <= n; i += per) {
        uint64_t word;
        memcpy(&word, p + i * w, 8);
        const uint64_t x = (word & M) ^ M;
        if ((x - ONES) & ~x & HIGHS) {
            for (int j = 0; j < per; j++)
                if ((wcheck__load(p + (i + j) * w, w) & e) == e) return i + j;
        }
    }
    for (; i < n; i++)
        if ((wcheck__load(p + i * w, w) & e) == e) return i;
    return -1;
}

int wcheck_tensor(const gguf_t *g, const gguf_tensor_t *t, char *err, size_t err_len) {
    char name[GGUF_QUOTE_BUF];
    const wcheck__rule_t *r = wcheck__rule((uint32_t)t->type);
    if (!r)
        return err_set(err, err_len, ERR_UNSUPPORTED, "%s: tensor '%s': no finiteness rule for type %s", gguf_name(g),
                       gguf_quote(t->name, name), dtype_name((uint32_t)t->type));
    const uint8_t *p = t->data;
    const int64_t n_units = (int64_t)(t->n_bytes / r->stride);
    const wcheck__kind_t k = (wcheck__kind_t)r->kind;
    const uint32_t e = wcheck__exp(k);
    const int w = wcheck__width(k);
    if (r->n_fields == 1 && r->field[0].offset == 0 && r->stride == w) { /* a plain float tensor */
        const int64_t i = wcheck__scan_plain(p, n_units, k);
        if (i < 0) return 0;
        return err_set(err, err_len, ERR_FORMAT, "%s: tensor '%s' (%s) holds %s at element %lld; the file is corrupt",
                       gguf_name(g), gguf_quote(t->name, name), dtype_name((uint32_t)t->type),
                       wcheck__what(wcheck__load(p + i * w, w), k), (long long)i);
    }
    for (int64_t b = 0; b < n_units; b++) {
        const uint8_t *blk = p + b * r->stride;
        for (int f = 0; f < r->n_fields; f++) {
            const uint32_t v = wcheck__load(blk + r->field[f].offset, w);
            if ((v & e) != e) continue;
            return err_set(err, err_len, ERR_FORMAT,
                           "%s: tensor '%s' (%s) block %lld: scale %s is %s; the file is corrupt", gguf_name(g),
                           gguf_quote(t->name, name), dtype_name((uint32_t)t->type), (long long)b,
                           r->field[f].name, wcheck__what(v, k));
        }
    }
    return 0;
}

int wcheck_gguf(const gguf_t *g, char *err, size_t err_len) {
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const int rc = wcheck_tensor(g, gguf_tensor(g, i), err, err_len);
        if (rc) return rc;
    }
    return 0;
}
