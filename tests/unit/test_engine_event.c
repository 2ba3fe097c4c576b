/*
 * test_engine_event.c — engine_event_copy: a deep copy (top alternatives, embedding, text, error message) that
 * shares nothing with the original, its size from engine_event_size, and NULL when the buffer is too small.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "engine.h"

static void test_deep_copy(void **state) {
    (void)state;
    int32_t ids[3] = {7, 8, 9};
    float lps[3] = {-0.5f, -1.0f, -2.0f};
    float emb[5] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
    char text[] = "hello", msg[] = "bad thing";
    engine_event_t ev = {.type = ENGINE_EV_EMBEDDING, .id = 42, .token = 3, .text = text, .text_len = 5,
                         .n_top = 3, .top_ids = ids, .top_logprobs = lps, .embedding = emb, .n_embedding = 5,
                         .pos = 11, .err_msg = msg};
    size_t need = engine_event_size(&ev);
    assert_true(need >= sizeof ev + 3 * 4 + 3 * 4 + 5 * 4 + 5 + sizeof msg);
    assert_null(engine_event_copy(&ev, NULL, need));
    _Alignas(16) unsigned char small[sizeof(engine_event_t) + 8];
    assert_null(engine_event_copy(&ev, small, sizeof small));
    void *buf = malloc(need);
    engine_event_t *c = engine_event_copy(&ev, buf, need);
    assert_non_null(c);
    /* change the originals: the copy keeps its own */
    ids[0] = 0, lps[0] = 0, emb[0] = 9, text[0] = 'j', msg[0] = 'm';
    assert_int_equal(c->type, ENGINE_EV_EMBEDDING);
    assert_int_equal(c->id, 42);
    assert_int_equal(c->pos, 11);
    assert_int_equal(c->n_top, 3);
    assert_int_equal(c->top_ids[0], 7);
    assert_true(c->top_logprobs[0] == -0.5f && c->top_logprobs[2] == -2.0f);
    assert_int_equal(c->n_embedding, 5);
    assert_true(c->embedding[0] == 0.1f && c->embedding[4] == 0.5f);
    assert_int_equal(c->text_len, 5);
    assert_memory_equal(c->text, "hello", 5);
    assert_string_equal(c->err_msg, "bad thing");
    for (const void *p = c->embedding; p; p = NULL) /* everything lies inside the buffer */
        assert_true((const char *)p >= (char *)buf && (const char *)p < (char *)buf + need);
    free(buf);

    engine_event_t end = {.type = ENGINE_EV_END, .id = 1, .n_cached = 16}; /* no pointers at all */
    assert_int_equal(engine_event_size(&end), sizeof end);
    _Alignas(16) unsigned char one[sizeof(engine_event_t)];
    engine_event_t *e2 = engine_event_copy(&end, one, sizeof one);
    assert_non_null(e2);
    assert_null(e2->text);
    assert_null(e2->embedding);
    assert_null(e2->err_msg);
    assert_int_equal(e2->n_cached, 16);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_deep_copy)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
