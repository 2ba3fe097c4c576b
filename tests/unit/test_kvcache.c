/*
 * test_kvcache.c — block allocation and freeing, prefix hits and misses, sharing, LRU eviction, exhaustion,
 * and a randomized consistency check of the pool's accounting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "kvcache.h"

#define BT 4

static kv_cache_t *make(int32_t n_blocks) {
    kv_params_t p = {.n_layer = 2, .k_dim = 8, .v_dim = 8, .block_tokens = BT, .n_blocks = n_blocks};
    kv_cache_t *kv = NULL;
    assert_int_equal(kv_create(&p, &kv), 0);
    return kv;
}

static void check_accounting(kv_cache_t *kv) {
    kv_stats_t st;
    kv_stats(kv, &st);
    assert_int_equal(st.used + st.cached + st.free, st.n_blocks);
}

/* Runs a whole "request": match, reserve and commit the prompt, then n_gen generated tokens. */
static void run_seq(kv_cache_t *kv, kv_seq_t *s, int32_t *toks, int32_t n_prompt, int32_t n_gen, int32_t *hit) {
    assert_int_equal(kv_seq_match_prefix(kv, s, toks, n_prompt), 0);
    *hit = s->n_tokens;
    int32_t rest = n_prompt - s->n_tokens;
    assert_int_equal(kv_seq_reserve(kv, s, rest), 0);
    assert_int_equal(kv_seq_commit(kv, s, toks, rest), 0);
    for (int32_t i = 0; i < n_gen; i++) {
        assert_int_equal(kv_seq_reserve(kv, s, 1), 0);
        assert_int_equal(kv_seq_commit(kv, s, toks, 1), 0);
    }
    assert_int_equal(s->n_tokens, n_prompt + n_gen);
}

static void test_params_and_layout(void **state) {
    (void)state;
    kv_params_t bad = {.n_layer = 0, .k_dim = 8, .v_dim = 8, .block_tokens = BT, .n_blocks = 4};
    kv_cache_t *kv = NULL;
    assert_int_equal(kv_create(&bad, &kv), ERR_INVAL);
    kv = make(4);
    assert_int_equal(kv_block_bytes(kv_params(kv)), 2 * 2 * BT * 8 * 2);
    /* K and V of each layer of each block are disjoint and inside the block */
    uint8_t *k00 = (uint8_t *)kv_block_k(kv, 0, 0), *v00 = (uint8_t *)kv_block_v(kv, 0, 0);
    uint8_t *k01 = (uint8_t *)kv_block_k(kv, 0, 1), *k10 = (uint8_t *)kv_block_k(kv, 1, 0);
    assert_int_equal(v00 - k00, BT * 8 * 2);
    assert_int_equal(k01 - k00, 2 * BT * 8 * 2);
    assert_int_equal(k10 - k00, (long)kv_block_bytes(kv_params(kv)));
    kv_free(kv);
    kv_free(NULL);
}

static void test_alloc_free(void **state) {
    (void)state;
    kv_cache_t *kv = make(8);
    kv_seq_t a = {0}, b = {0};
    assert_int_equal(kv_seq_blocks_needed(kv, &a, 9), 3);
    assert_int_equal(kv_seq_reserve(kv, &a, 9), 0);
    assert_int_equal(a.n_blocks, 3);
    assert_int_equal(kv_seq_reserve(kv, &a, 0), 0);
    assert_int_equal(kv_seq_reserve(kv, &b, 4 * BT), 0);
    kv_stats_t st;
    kv_stats(kv, &st);
    assert_int_equal(st.used, 7);
    assert_int_equal(kv_available(kv), 1);
    /* distinct blocks */
    for (int i = 0; i < a.n_blocks; i++)
        for (int j = 0; j < b.n_blocks; j++) assert_int_not_equal(a.blocks[i], b.blocks[j]);
    /* exhaustion takes nothing */
    kv_seq_t c = {0};
    assert_int_equal(kv_seq_reserve(kv, &c, 2 * BT), ERR_FULL);
    assert_int_equal(c.n_blocks, 0);
    kv_stats(kv, &st);
    assert_int_equal(st.used, 7);
    kv_seq_release(kv, &a);
    kv_seq_release(kv, &b);
    kv_seq_release(kv, &c);
    kv_stats(kv, &st);
    assert_int_equal(st.used, 0);
    assert_int_equal(st.free, 8); /* nothing was committed, so nothing is cached */
    check_accounting(kv);
    kv_free(kv);
}

static void test_prefix_hit_and_miss(void **state) {
    (void)state;
    kv_cache_t *kv = make(16);
    int32_t p1[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    int32_t p2[] = {1, 2, 3, 4, 5, 6, 7, 8, 99, 98};
    int32_t p3[] = {1, 2, 3, 5, 5, 6, 7, 8, 9};
    kv_seq_t a = {0}, b = {0}, c = {0};
    int32_t hit;
    run_seq(kv, &a, p1, 11, 0, &hit);
    assert_int_equal(hit, 0);
    kv_seq_release(kv, &a);
    kv_stats_t st;
    kv_stats(kv, &st);
    assert_int_equal(st.cached, 2); /* two full blocks of p1 stay cached */
    /* p2 shares the first two blocks (8 tokens) */
    run_seq(kv, &b, p2, 10, 0, &hit);
    assert_int_equal(hit, 8);
    /* p3 differs inside the first block: a miss */
    run_seq(kv, &c, p3, 9, 0, &hit);
    assert_int_equal(hit, 0);
    kv_seq_release(kv, &b);
    kv_seq_release(kv, &c);
    /* an exact repeat of p1 hits only up to n-1 tokens: 11 tokens -> 2 blocks */
    kv_seq_t d = {0};
    run_seq(kv, &d, p1, 11, 0, &hit);
    assert_int_equal(hit, 8);
    kv_seq_release(kv, &d);
    /* a prompt of exactly 8 tokens may reuse only 1 block (one token must remain to compute) */
    kv_seq_t e = {0};
    run_seq(kv, &e, p1, 8, 0, &hit);
    assert_int_equal(hit, 4);
    kv_seq_release(kv, &e);
    kv_stats(kv, &st);
    assert_true(st.hit_tokens == 20);
    check_accounting(kv);
    kv_free(kv);
}

static void test_sharing_is_refcounted(void **state) {
    (void)state;
    kv_cache_t *kv = make(16);
    int32_t p[] = {5, 6, 7, 8, 9, 10, 11, 12, 13};
    kv_seq_t a = {0}, b = {0};
    int32_t hit;
    run_seq(kv, &a, p, 9, 0, &hit);
    run_seq(kv, &b, p, 9, 2, &hit); /* a is still running: b shares its two full blocks */
    assert_int_equal(hit, 8);
    assert_int_equal(a.blocks[0], b.blocks[0]);
    assert_int_equal(a.blocks[1], b.blocks[1]);
    assert_int_not_equal(a.blocks[2], b.blocks[2]); /* writes go to private blocks */
    kv_stats_t st;
    kv_stats(kv, &st);
    assert_int_equal(st.used, 4);
    kv_seq_release(kv, &a);
    kv_stats(kv, &st);
    assert_int_equal(st.used, 3); /* shared blocks stay used while b holds them */
    kv_seq_release(kv, &b);
    kv_stats(kv, &st);
    assert_int_equal(st.used, 0);
    check_accounting(kv);
    kv_free(kv);
}

static void test_lru_eviction(void **state) {
    (void)state;
    kv_cache_t *kv = make(4);
    int32_t p1[] = {1, 1, 1, 1, 2, 2, 2, 2, 3};
    int32_t p2[] = {7, 7, 7, 7, 8, 8, 8, 8, 9};
    kv_seq_t a = {0}, b = {0}, c = {0};
    int32_t hit;
    run_seq(kv, &a, p1, 9, 0, &hit);
    kv_seq_release(kv, &a); /* p1's two full blocks are cached */
    run_seq(kv, &b, p2, 9, 0, &hit); /* needs 3 blocks: 2 free + evicts one of p1's (its tail first) */
    assert_int_equal(hit, 0);
    kv_seq_release(kv, &b);
    /* p1's first block survived (tail blocks go first), so p1 still gets a one-block hit */
    run_seq(kv, &c, p1, 9, 0, &hit);
    assert_int_equal(hit, 4);
    kv_seq_release(kv, &c);
    check_accounting(kv);
    kv_free(kv);
}

/* Random workload: accounting always adds up, no block is held by two sequences unless shared by prefix. */
static void test_random_workload(void **state) {
    (void)state;
    kv_cache_t *kv = make(32);
    kv_seq_t seqs[6];
    memset(seqs, 0, sizeof seqs);
    int32_t toks[6][64];
    uint64_t x = 12345;
    for (int iter = 0; iter < 2000; iter++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int s = (int)(x % 6);
        kv_seq_t *q = &seqs[s];
        if (q->n_tokens == 0) {
            int32_t n = (int32_t)(1 + (x >> 8) % 20);
            for (int32_t i = 0; i < n; i++) toks[s][i] = (int32_t)((x >> (i % 40)) % 3); /* many shared prefixes */
            assert_int_equal(kv_seq_match_prefix(kv, q, toks[s], n), 0);
            int32_t rest = n - q->n_tokens;
            if (kv_seq_reserve(kv, q, rest) == ERR_FULL) {
                kv_seq_release(kv, q);
                continue;
            }
            kv_seq_commit(kv, q, toks[s], rest);
        } else if (q->n_tokens < 60 && (x >> 20) % 4) {
            toks[s][q->n_tokens] = (int32_t)((x >> 30) % 3);
            if (kv_seq_reserve(kv, q, 1) == 0) kv_seq_commit(kv, q, toks[s], 1);
        } else {
            kv_seq_release(kv, q);
        }
        check_accounting(kv);
    }
    for (int s = 0; s < 6; s++) kv_seq_release(kv, &seqs[s]);
    kv_stats_t st;
    kv_stats(kv, &st);
    assert_int_equal(st.used, 0);
    check_accounting(kv);
    kv_free(kv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_and_layout), cmocka_unit_test(test_alloc_free),
        cmocka_unit_test(test_prefix_hit_and_miss), cmocka_unit_test(test_sharing_is_refcounted),
        cmocka_unit_test(test_lru_eviction),       cmocka_unit_test(test_random_workload),
    };
    return cmocka_run_group_tests_name("kvcache", tests, NULL, NULL);
}
