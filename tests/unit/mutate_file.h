/*
 * mutate_file.h — for tests of a loader on malformed files: a good file read into memory, then copies with a few
 * bytes changed near chosen spots (right after each occurrence of some names: a key's value, a tensor info's
 * dimensions, type and offset) written to a temporary file that a test's callback loads and, when it loads, uses.
 * Header-only (static functions); failures abort the test through cmocka asserts. Seeded: the same seed mutates
 * the same bytes. Include it after <cmocka.h>.
 */
#ifndef CINDER_TEST_MUTATE_FILE_H
#define CINDER_TEST_MUTATE_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline uint64_t mf_rng_next(uint64_t *s) { /* xorshift64 */
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Offsets of the bytes right after each occurrence of needle in buf[0, n), appended to out[have..cap). */
static inline size_t mf_after_each(const uint8_t *buf, size_t n, const char *needle, size_t *out, size_t have,
                                   size_t cap) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n && have < cap; i++)
        if (memcmp(buf + i, needle, k) == 0) out[have++] = i + k;
    return have;
}

/*
 * Reads path, then iters times: a copy with 1 to 4 bytes within 24 bytes after the spots of needles[0..n_needles)
 * flipped by a bit or set to 0, 0xff or a random value, written to tmp, and load(tmp) called: it returns true when
 * the file loaded (and was used), false when it was refused. Adds to *n_ok and *n_err.
 */
static inline void mf_mutate_loads(const char *path, const char *const *needles, size_t n_needles, uint64_t *seed,
                                   int iters, const char *tmp, bool (*load)(const char *tmp), int *n_ok, int *n_err) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s (make synth-models)", path);
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *good = malloc(len), *work = malloc(len);
    assert_true(good && work && fread(good, 1, len, f) == len);
    fclose(f);
    static size_t spots[4096];
    size_t n_spots = 0;
    for (size_t k = 0; k < n_needles; k++)
        n_spots = mf_after_each(good, len, needles[k], spots, n_spots, 4096);
    assert_true(n_spots > 20);
    for (int it = 0; it < iters; it++) {
        memcpy(work, good, len);
        int n_flips = 1 + (int)(mf_rng_next(seed) % 4);
        for (int k = 0; k < n_flips; k++) {
            size_t p = spots[mf_rng_next(seed) % n_spots] + mf_rng_next(seed) % 24;
            uint64_t r = mf_rng_next(seed);
            if (p < len)
                work[p] = (r & 1) ? (uint8_t)(work[p] ^ (1u << ((r >> 1) % 8)))
                                  : (uint8_t)((r >> 8) % 3 == 0   ? 0
                                              : (r >> 8) % 3 == 1 ? 0xff
                                                                  : r >> 16);
        }
        f = fopen(tmp, "wb");
        assert_true(f && fwrite(work, 1, len, f) == len);
        fclose(f);
        if (load(tmp))
            (*n_ok)++;
        else
            (*n_err)++;
    }
    free(good);
    free(work);
}

#endif
