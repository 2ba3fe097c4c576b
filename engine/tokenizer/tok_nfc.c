/*
 * tok_nfc.c — Unicode Normalization Form C (UAX #15), for the tokenizers whose Hugging Face tokenizer.json has an
 * NFC normalizer (Qwen 2, 2.5, 3: `tokenizer.ggml.pre` "qwen2" and kin).
 *
 * Owns: the normalisation of one text run. The tables (combining classes, canonical decompositions, primary
 * composites) are generated into tok_nfc_data.c by scripts/gen_nfc_tables.py; Hangul syllables are decomposed
 * and composed arithmetically (Unicode 3.12).
 * Does not: NFKC or any other form; decide whether a tokenizer normalises (tokenizer.c, by pre-tokenizer name).
 *
 * Why: "café" typed with a combining acute (e + U+0301) and with the precomposed é are different bytes; Qwen's
 * tokenizer composes them first, so both give the same ids. llama.cpp does not, and differs from the model's
 * own tokenizer there.
 *
 * Algorithm: decode to code points, replace each by its full canonical decomposition, put every run of
 * non-starters in canonical order (a stable sort by combining class, linear for long runs), then compose: each
 * character joins the last starter when a primary composite exists for the pair and no character between them
 * blocks it (one with class 0 or a class not below its own). Text whose bytes are all below 0xCC (code points
 * below U+0300, which are all starters in NFC already) does not need this (tok__nfc_needed).
 *
 * Threads: pure function of its input; scratch per call.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tok_internal.h"

/* Hangul syllable arithmetic (Unicode 3.12). */
enum {
    NFC_SBASE = 0xAC00,
    NFC_LBASE = 0x1100,
    NFC_VBASE = 0x1161,
    NFC_TBASE = 0x11A7,
    NFC_LCOUNT = 19,
    NFC_VCOUNT = 21,
    NFC_TCOUNT = 28,
    NFC_NCOUNT = NFC_VCOUNT * NFC_TCOUNT,
    NFC_SCOUNT = NFC_LCOUNT * NFC_NCOUNT,
};

/* The canonical combining class of cp (0 for starters). */
static unsigned nfc_ccc(uint32_t cp) {
    if (cp < 0x300) return 0;
    size_t lo = 0, hi = tok__nfc_n_ccc;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint32_t e = tok__nfc_ccc[mid] >> 8;
        if (e == cp) return tok__nfc_ccc[mid] & 0xFF;
        if (e < cp) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* The full canonical decomposition of cp (not Hangul) as a pointer into the pool and a length; 0 when none. */
static size_t nfc_decomp(uint32_t cp, const uint32_t **d) {
    if (cp < 0xC0) return 0;
    size_t lo = 0, hi = tok__nfc_n_decomp;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint32_t e = tok__nfc_decomp[mid][0];
        if (e == cp) {
            *d = tok__nfc_pool + (tok__nfc_decomp[mid][1] >> 3);
            return tok__nfc_decomp[mid][1] & 7;
        }
        if (e < cp) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* The primary composite of (a, b), or 0 when the pair does not compose. */
static uint32_t nfc_compose(uint32_t a, uint32_t b) {
    if (a >= NFC_LBASE && a < NFC_LBASE + NFC_LCOUNT && b >= NFC_VBASE && b < NFC_VBASE + NFC_VCOUNT)
        return NFC_SBASE + ((a - NFC_LBASE) * NFC_VCOUNT + (b - NFC_VBASE)) * NFC_TCOUNT;
    if (a >= NFC_SBASE && a < NFC_SBASE + NFC_SCOUNT && (a - NFC_SBASE) % NFC_TCOUNT == 0 && b > NFC_TBASE &&
        b < NFC_TBASE + NFC_TCOUNT)
        return a + (b - NFC_TBASE);
    size_t lo = 0, hi = tok__nfc_n_comp;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *e = tok__nfc_comp[mid];
        if (e[0] == a && e[1] == b) return e[2];
        if (e[0] < a || (e[0] == a && e[1] < b)) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* Appends cp's full canonical decomposition to d (room for 4 more code points is guaranteed by the caller). */
static size_t nfc_put_decomposed(uint32_t cp, uint32_t *d) {
    if (cp >= NFC_SBASE && cp < NFC_SBASE + NFC_SCOUNT) {
        uint32_t s = cp - NFC_SBASE, t = s % NFC_TCOUNT;
        d[0] = NFC_LBASE + s / NFC_NCOUNT;
        d[1] = NFC_VBASE + (s % NFC_NCOUNT) / NFC_TCOUNT;
        if (t == 0) return 2;
        d[2] = NFC_TBASE + t;
        return 3;
    }
    const uint32_t *m;
    size_t n = nfc_decomp(cp, &m);
    if (n == 0) {
        d[0] = cp;
        return 1;
    }
    memcpy(d, m, n * sizeof *d);
    return n;
}

/* Sorts cp[0..n) stably by class cc[0..n) (all non-zero): insertion sort for the usual short runs, a counting
   sort through tmp (n entries) for long ones, so that a text of nothing but combining marks stays linear. */
static void nfc_sort_run(uint32_t *cp, unsigned char *cc, size_t n, uint32_t *tmp) {
    if (n <= 32) {
        for (size_t i = 1; i < n; i++) {
            for (size_t j = i; j > 0 && cc[j - 1] > cc[j]; j--) {
                uint32_t tc = cp[j];
                unsigned char tk = cc[j];
                cp[j] = cp[j - 1], cc[j] = cc[j - 1];
                cp[j - 1] = tc, cc[j - 1] = tk;
            }
        }
        return;
    }
    size_t start[257] = {0};
    for (size_t i = 0; i < n; i++) start[cc[i] + 1]++;
    for (int k = 1; k < 257; k++) start[k] += start[k - 1];
    for (size_t i = 0; i < n; i++) tmp[start[cc[i]]++] = cp[i];
    memcpy(cp, tmp, n * sizeof *cp);
    for (size_t i = 0; i < n; i++) cc[i] = (unsigned char)nfc_ccc(cp[i]);
}

bool tok__nfc_needed(const char *text, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] >= 0xCC) return true;
    return false;
}

int tok__nfc(const char *text, size_t len, tok__buf_t *out) {
    /* every code point decomposes into at most 4 (the pool's longest entry is 4; Hangul 3) */
    uint32_t *cp = malloc((len * 4 + 1) * sizeof *cp);
    uint32_t *tmp = malloc((len * 4 + 1) * sizeof *tmp);
    unsigned char *cc = malloc(len * 4 + 1);
    int rc = ERR_NOMEM;
    if (!cp || !tmp || !cc) goto cleanup;

    /* decode (the input is the sanitised UTF-8 of tok__bpe_sanitize: well formed, surrogates possible) and
       decompose */
    size_t n = 0;
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        size_t l = tok__utf8_len(s[i]);
        if (i + l > len) l = 1;
        uint32_t c = l == 1 ? s[i] : (uint32_t)(s[i] & (0xFF >> (l + 1)));
        for (size_t k = 1; k < l; k++) c = (c << 6) | (s[i + k] & 0x3F);
        i += l;
        n += nfc_put_decomposed(c, cp + n);
    }
    for (size_t i = 0; i < n; i++) cc[i] = (unsigned char)nfc_ccc(cp[i]);

    /* canonical ordering: a stable sort by class of each run of non-starters */
    for (size_t i = 0; i < n;) {
        if (cc[i] == 0) {
            i++;
            continue;
        }
        size_t end = i;
        while (end < n && cc[end] != 0) end++;
        nfc_sort_run(cp + i, cc + i, end - i, tmp);
        i = end;
    }

    /* composition, in place: o is the output length, starter the index of the last starter in the output */
    size_t o = 0;
    ptrdiff_t starter = -1;
    unsigned last_cc = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cp[i];
        unsigned k = cc[i];
        if (starter >= 0) {
            bool adjacent = (size_t)starter == o - 1;
            bool blocked = !adjacent && (last_cc == 0 || last_cc >= k);
            uint32_t p = blocked ? 0 : nfc_compose(cp[starter], c);
            if (p) {
                cp[starter] = p;
                continue;
            }
        }
        if (k == 0) {
            starter = (ptrdiff_t)o;
            last_cc = 0;
        } else {
            last_cc = k;
        }
        cp[o] = c;
        cc[o] = (unsigned char)k;
        o++;
    }

    if (tok__buf_reserve(out, o * 4 + 1)) goto cleanup;
    out->n = 0;
    for (size_t i = 0; i < o; i++) out->n += tok__utf8_put(cp[i], out->p + out->n);
    rc = 0;

cleanup:
    free(cp);
    free(tmp);
    free(cc);
    return rc;
}
