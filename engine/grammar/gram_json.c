/*
 * gram_json.c — the JSON pieces the schema compiler assembles: bounded whitespace, strings, numbers, exact
 * integer and decimal ranges, and "any value" (see gj_* in gram_internal.h).
 *
 * Strings produce valid UTF-8 only, with the escapes \" \\ \/ \b \f \n \r \t and \uXXXX (not a surrogate: a
 * lone surrogate is not a character, and pairs are left out for simplicity — the model writes the character raw).
 *
 * Ranges: an integer range [lo, hi] is split by sign and by digit count, and a same-length range of decimal
 * strings L..H becomes "L0 then [L1.., 9..9] | (L0+1..H0-1) then any digits | H0 then [0..0, ..H1]" (the usual
 * digit-by-digit construction), so no value outside the range can be written and every value inside can.
 * Decimal ranges with integer bounds: an integer part in [a, b-1] with any fraction, or b with an all-zero
 * fraction; negative values mirror that on the magnitude. Exponents are not produced under bounds.
 */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "gram_internal.h"

void gj_init(gj_t *j, gram_builder_t *b, uint32_t ws_max) {
    j->b = b;
    j->ws_max = ws_max;
    j->ws = j->chr = j->string = j->number = j->integer = j->value = j->object_any = GRAM_NONE;
}

static uint32_t gj__re(gj_t *j, const char *re) { return gram_regex_expr(j->b, re, strlen(re), false); }

uint32_t gj_ws(gj_t *j) {
    if (j->ws == GRAM_NONE) {
        gram_set_t s;
        memset(&s, 0, sizeof s);
        gram_set_add(&s, ' ');
        gram_set_add(&s, '\t');
        gram_set_add(&s, '\n');
        gram_set_add(&s, '\r');
        j->ws = gram_repeat(j->b, gram_set(j->b, &s), 0, j->ws_max);
    }
    return j->ws;
}

uint32_t gj_comma(gj_t *j) { return gram_seqv(j->b, 3, gj_ws(j), gram_str(j->b, ","), gj_ws(j)); }

uint32_t gj_char(gj_t *j) {
    if (j->chr == GRAM_NONE) {
        uint32_t r = gram_rule_new(j->b);
        uint32_t raw = gj__re(j, "[\\x20\\x21\\x23-\\x5b\\x5d-\\u{10ffff}]");
        uint32_t esc = gj__re(j, "\\\\([\"\\\\/bfnrt]|u([0-9a-cA-Ce-fE-F][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}))");
        gram_rule_define(j->b, r, gram_altv(j->b, 2, raw, esc));
        j->chr = gram_ref(j->b, r);
    }
    return j->chr;
}

uint32_t gj_string(gj_t *j, uint32_t min, uint32_t max) {
    if (min == 0 && max == GRAM_REPEAT_INF && j->string != GRAM_NONE) return j->string;
    uint32_t q = gram_str(j->b, "\"");
    uint32_t body = gram_repeat(j->b, gj_char(j), min, max);
    uint32_t r = gram_rule_new(j->b);
    gram_rule_define(j->b, r, gram_seqv(j->b, 3, q, body, q));
    uint32_t ref = gram_ref(j->b, r);
    if (min == 0 && max == GRAM_REPEAT_INF) j->string = ref;
    return ref;
}

uint32_t gj_number(gj_t *j) {
    if (j->number == GRAM_NONE) {
        uint32_t r = gram_rule_new(j->b);
        gram_rule_define(j->b, r, gj__re(j, "-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?"));
        j->number = gram_ref(j->b, r);
    }
    return j->number;
}

uint32_t gj_integer(gj_t *j) {
    if (j->integer == GRAM_NONE) {
        uint32_t r = gram_rule_new(j->b);
        gram_rule_define(j->b, r, gj__re(j, "-?(0|[1-9][0-9]*)"));
        j->integer = gram_ref(j->b, r);
    }
    return j->integer;
}

uint32_t gj_value(gj_t *j) {
    if (j->value != GRAM_NONE) return j->value;
    gram_builder_t *b = j->b;
    uint32_t vr = gram_rule_new(b);
    j->value = gram_ref(b, vr);
    /* arrays: '[' ws (value (ws ',' ws value)*)? ws ']' */
    uint32_t items =
        gram_seqv(b, 2, j->value, gram_repeat(b, gram_seqv(b, 2, gj_comma(j), j->value), 0, GRAM_REPEAT_INF));
    uint32_t arr_r = gram_rule_new(b);
    gram_rule_define(
        b, arr_r, gram_seqv(b, 5, gram_str(b, "["), gj_ws(j), gram_repeat(b, items, 0, 1), gj_ws(j), gram_str(b, "]")));
    gram_rule_define(b, vr,
                     gram_altv(b, 7, gj_object_any(j), gram_ref(b, arr_r), gj_string(j, 0, GRAM_REPEAT_INF),
                               gj_number(j), gram_str(b, "true"), gram_str(b, "false"), gram_str(b, "null")));
    return j->value;
}

uint32_t gj_object_any(gj_t *j) {
    if (j->object_any != GRAM_NONE) return j->object_any;
    gram_builder_t *b = j->b;
    uint32_t r = gram_rule_new(b);
    j->object_any = gram_ref(b, r);
    uint32_t kv = gram_seqv(b, 5, gj_string(j, 0, GRAM_REPEAT_INF), gj_ws(j), gram_str(b, ":"), gj_ws(j), gj_value(j));
    uint32_t members = gram_seqv(b, 2, kv, gram_repeat(b, gram_seqv(b, 2, gj_comma(j), kv), 0, GRAM_REPEAT_INF));
    gram_rule_define(
        b, r, gram_seqv(b, 5, gram_str(b, "{"), gj_ws(j), gram_repeat(b, members, 0, 1), gj_ws(j), gram_str(b, "}")));
    return j->object_any;
}

/* ---- ranges ---------------------------------------------------------------------------------------------- */

static uint32_t gj__digits(gj_t *j, char lo, char hi) {
    gram_set_t s;
    memset(&s, 0, sizeof s);
    gram_set_add_range(&s, (unsigned char)lo, (unsigned char)hi);
    return gram_set(j->b, &s);
}

/* Decimal strings of n digits between L and H (equal length, L <= H). */
static uint32_t gj__same_len(gj_t *j, const char *L, const char *H, size_t n) {
    if (n == 0) return gram_empty(j->b);
    if (n == 1) return gj__digits(j, L[0], H[0]);
    if (L[0] == H[0]) return gram_seqv(j->b, 2, gram_bytes(j->b, L, 1), gj__same_len(j, L + 1, H + 1, n - 1));
    char nines[24], zeros[24];
    memset(nines, '9', n - 1);
    memset(zeros, '0', n - 1);
    uint32_t alts[3];
    size_t k = 0;
    alts[k++] = gram_seqv(j->b, 2, gram_bytes(j->b, L, 1), gj__same_len(j, L + 1, nines, n - 1));
    if (H[0] - L[0] >= 2)
        alts[k++] = gram_seqv(j->b, 2, gj__digits(j, (char)(L[0] + 1), (char)(H[0] - 1)),
                              gram_repeat(j->b, gj__digits(j, '0', '9'), (uint32_t)(n - 1), (uint32_t)(n - 1)));
    alts[k++] = gram_seqv(j->b, 2, gram_bytes(j->b, H, 1), gj__same_len(j, zeros, H + 1, n - 1));
    return gram_alt(j->b, alts, k);
}

static int gj__ndigits(int64_t v) {
    int n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Non-negative integers in [a, b] without leading zeros; has_b false: unbounded above. */
static uint32_t gj__nonneg(gj_t *j, int64_t a, bool has_b, int64_t b) {
    uint32_t alts[24];
    size_t k = 0;
    int da = gj__ndigits(a), db = has_b ? gj__ndigits(b) : da;
    int64_t p = 1;
    for (int d = 1; d < da; d++)
        p *= 10; /* 10^(da-1) */
    for (int d = da; d <= db; d++, p *= 10) {
        int64_t lo = d == da ? a : p, hi = has_b && d == db ? b : p * 10 - 1;
        char L[24], H[24];
        snprintf(L, sizeof L, "%lld", (long long)lo);
        snprintf(H, sizeof H, "%lld", (long long)hi);
        alts[k++] = gj__same_len(j, L, H, (size_t)d);
    }
    if (!has_b) /* more digits than a: [1-9][0-9]{da,} */
        alts[k++] = gram_seqv(j->b, 2, gj__digits(j, '1', '9'),
                              gram_repeat(j->b, gj__digits(j, '0', '9'), (uint32_t)da, GRAM_REPEAT_INF));
    return gram_alt(j->b, alts, k);
}

static bool gj__check(gj_t *j, bool has_lo, int64_t lo, bool has_hi, int64_t hi) {
    if ((has_lo && (lo > GJ_MAX_BOUND || lo < -GJ_MAX_BOUND)) ||
        (has_hi && (hi > GJ_MAX_BOUND || hi < -GJ_MAX_BOUND))) {
        gram_build_fail(j->b, ERR_UNSUPPORTED, "numeric bound beyond +-9e15");
        return false;
    }
    if (has_lo && has_hi && lo > hi) {
        gram_build_fail(j->b, ERR_FORMAT, "no number satisfies minimum %lld and maximum %lld", (long long)lo,
                        (long long)hi);
        return false;
    }
    return true;
}

uint32_t gj_int_range(gj_t *j, bool has_lo, int64_t lo, bool has_hi, int64_t hi) {
    if (!gj__check(j, has_lo, lo, has_hi, hi)) return GRAM_NONE;
    gram_builder_t *b = j->b;
    if (has_lo && lo >= 0) return gj__nonneg(j, lo, has_hi, hi);
    if (has_hi && hi < 0) return gram_seqv(b, 2, gram_str(b, "-"), gj__nonneg(j, -hi, has_lo, has_lo ? -lo : 0));
    uint32_t neg = gram_seqv(b, 2, gram_str(b, "-"), gj__nonneg(j, 1, has_lo, has_lo ? -lo : 0));
    return gram_altv(b, 2, neg, gj__nonneg(j, 0, has_hi, hi));
}

/* Decimals in [a, b] for integers 0 <= a (<= b when has_b). */
static uint32_t gj__num_nonneg(gj_t *j, int64_t a, bool has_b, int64_t b) {
    gram_builder_t *bb = j->b;
    uint32_t frac = gram_repeat(
        bb, gram_seqv(bb, 2, gram_str(bb, "."), gram_repeat(bb, gj__digits(j, '0', '9'), 1, GRAM_REPEAT_INF)), 0, 1);
    uint32_t alts[2];
    size_t k = 0;
    if (!has_b || b > a) alts[k++] = gram_seqv(bb, 2, gj__nonneg(j, a, has_b, has_b ? b - 1 : 0), frac);
    if (has_b) {
        char s[24];
        snprintf(s, sizeof s, "%lld", (long long)b);
        uint32_t zfrac = gram_repeat(
            bb, gram_seqv(bb, 2, gram_str(bb, "."), gram_repeat(bb, gram_str(bb, "0"), 1, GRAM_REPEAT_INF)), 0, 1);
        alts[k++] = gram_seqv(bb, 2, gram_str(bb, s), zfrac);
    }
    return gram_alt(bb, alts, k);
}

uint32_t gj_num_range(gj_t *j, bool has_lo, int64_t lo, bool has_hi, int64_t hi) {
    if (!gj__check(j, has_lo, lo, has_hi, hi)) return GRAM_NONE;
    gram_builder_t *b = j->b;
    uint32_t minus = gram_str(b, "-");
    if (has_lo && lo >= 0) return gj__num_nonneg(j, lo, has_hi, hi);
    if (has_hi && hi <= 0) {
        uint32_t neg = gram_seqv(b, 2, minus, gj__num_nonneg(j, -hi, has_lo, has_lo ? -lo : 0));
        return hi == 0 ? gram_altv(b, 2, neg, gj__num_nonneg(j, 0, true, 0)) : neg;
    }
    return gram_altv(b, 2, gram_seqv(b, 2, minus, gj__num_nonneg(j, 0, has_lo, has_lo ? -lo : 0)),
                     gj__num_nonneg(j, 0, has_hi, hi));
}
