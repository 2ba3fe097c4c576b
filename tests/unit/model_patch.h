/*
 * model_patch.h — for tests: a model file read into memory, located tensors patched in place (a NaN scale, a
 * huge weight), and the result written to a temporary file that model_load / engine_create can open. Header-only
 * (static functions) so each test binary takes what it uses; failures abort the test through cmocka asserts.
 */
#ifndef CINDER_TEST_MODEL_PATCH_H
#define CINDER_TEST_MODEL_PATCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"

typedef struct {
    uint8_t *buf; /* the whole file */
    size_t len;
    char path[64]; /* the temporary copy, once mp_write ran ("" before) */
} mp_file_t;

/* Reads path into f->buf. */
static inline void mp_read(mp_file_t *f, const char *path) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->buf = malloc((size_t)n);
    assert_non_null(f->buf);
    assert_int_equal(fread(f->buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    f->len = (size_t)n;
}

/* The offset in f->buf of tensor name's data; its type and byte size through the pointers (either may be NULL). */
static inline size_t mp_tensor(const mp_file_t *f, const char *name, dtype_t *type, uint64_t *n_bytes) {
    gguf_t *g = NULL;
    char err[256];
    assert_int_equal(gguf_open_mem(f->buf, f->len, "patch", &g, err, sizeof err), 0);
    const gguf_tensor_t *t = gguf_find_tensor(g, name);
    assert_non_null(t);
    const size_t off = (size_t)((const uint8_t *)t->data - f->buf);
    if (type) *type = t->type;
    if (n_bytes) *n_bytes = t->n_bytes;
    gguf_close(g);
    return off;
}

static inline void mp_put16(mp_file_t *f, size_t off, uint16_t v) { memcpy(f->buf + off, &v, 2); }
static inline void mp_put32(mp_file_t *f, size_t off, uint32_t v) { memcpy(f->buf + off, &v, 4); }

/* Writes f->buf to a fresh temporary file; its name in f->path. */
static inline void mp_write(mp_file_t *f) {
    snprintf(f->path, sizeof f->path, "/tmp/cinder-patch-XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, f->buf, f->len), (ssize_t)f->len);
    close(fd);
}

/* Removes the temporary file and frees the buffer. */
static inline void mp_free(mp_file_t *f) {
    if (f->path[0]) unlink(f->path);
    free(f->buf);
    memset(f, 0, sizeof *f);
}

#endif
