/*
 * kern_fixture.h — shared by tests/unit/test_kernels*.c: a seeded xorshift generator (each test binary starts
 * from the same state), a float's bits, and a loop over the instruction sets this CPU has. Header only; each
 * test file includes it once (static state).
 */
#ifndef CINDER_TEST_KERN_FIXTURE_H
#define CINDER_TEST_KERN_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "kernels/kern.h"
#include "kernels/kern_impl.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static inline uint32_t rnd_u32(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static inline float rnd_f(float lo, float hi) {
    return lo + (hi - lo) * (float)(rnd_u32() >> 8) * (1.0f / 16777216.0f);
}

static inline float rnd_normalish(void) { return rnd_f(-1, 1) + rnd_f(-1, 1) + rnd_f(-1, 1); }

static inline uint32_t bits_from_f(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Runs fn once per instruction set this CPU has, then restores the best one. */
static inline void for_each_isa(void (*fn)(int level)) {
    const int best = kern__cpu_isa();
    for (int level = 0; level <= best; level++) {
        assert_int_equal(kern__force_isa(level), level);
        fn(level);
    }
    kern__force_isa(best);
}

#endif
