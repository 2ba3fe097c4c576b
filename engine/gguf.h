/*
 * gguf.h — read-only access to a GGUF file: metadata key/values and tensor descriptors.
 *
 * Owns: the memory mapping of one file (or a borrowed memory buffer) and the index built over it at open.
 * Does not: interpret the metadata (model.c and tokenizer.c do), convert tensor data, or write files.
 *
 * Everything is validated at open, before any caller sees it: counts, string lengths, array sizes, tensor
 * dimensions and byte sizes are checked for overflow and against the file size; tensor data must lie inside
 * the data section at the alignment `general.alignment` asks for (default 32); tensors must not overlap;
 * keys must be valid UTF-8 and unique; tensor types other than the supported ones (dtype_supported) are
 * refused with a message naming the type and the tensor. GGUF versions 2 and 3 are read; version 1 and
 * big-endian files are refused with a clear message.
 *
 * Strings are views into the mapping (gguf_str_t: pointer + length, NOT NUL-terminated). Numeric array
 * elements may be unaligned in the file: read them with the gguf_arr_* accessors.
 *
 * Threads: after gguf_open returns, a gguf_t is immutable and may be read from any number of threads. All
 * pointers it hands out (strings, arrays, tensor data) live until gguf_close.
 */
#ifndef CINDER_GGUF_H
#define CINDER_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"

typedef struct gguf gguf_t;

/* Metadata value types, numbered as in the GGUF specification. */
typedef enum {
    GGUF_UINT8 = 0,
    GGUF_INT8 = 1,
    GGUF_UINT16 = 2,
    GGUF_INT16 = 3,
    GGUF_UINT32 = 4,
    GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6,
    GGUF_BOOL = 7,
    GGUF_STRING = 8,
    GGUF_ARRAY = 9,
    GGUF_UINT64 = 10,
    GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12,
} gguf_type_t;

/* A string inside the mapping: `len` bytes at `ptr`, not NUL-terminated. */
typedef struct {
    const char *ptr;
    uint64_t len;
} gguf_str_t;

/*
 * An array value. For numeric and bool elements, `data` points at n packed little-endian elements (possibly
 * unaligned). For string elements, `strs` holds n views built at open. Nested arrays are parsed and validated
 * but exposed only as their element type GGUF_ARRAY with data == strs == NULL.
 */
typedef struct {
    gguf_type_t type; /* element type */
    uint64_t n;       /* element count */
    const uint8_t *data;
    const gguf_str_t *strs;
} gguf_arr_t;

typedef struct {
    gguf_str_t name;
    uint32_t n_dims; /* 1..4 */
    int64_t ne[4];   /* elements per dimension, ggml order: ne[0] is the contiguous one; unused dims are 1 */
    dtype_t type;    /* always a supported type */
    uint64_t offset; /* bytes from the start of the data section */
    uint64_t n_bytes;
    const void *data; /* inside the mapping, aligned to general.alignment relative to the data section */
} gguf_tensor_t;

/*
 * Maps and validates the file at path. On success *out owns the mapping; free it with gguf_close.
 * On failure returns ERR_IO (cannot open/map), ERR_FORMAT (malformed), ERR_UNSUPPORTED (version, endianness,
 * tensor type) or ERR_NOMEM, and writes one line into err naming the file and what is wrong, e.g.
 * "model.gguf: tensor 'blk.0.attn_q.weight' data [1024, 5120) lies outside the file (4000 bytes)".
 * A tensor type id that ggml never assigned (e.g. 99) is also ERR_UNSUPPORTED: a newer ggml may define it.
 * Names from the file appear in messages with non-printable bytes escaped as \xNN. *out is NULL on failure;
 * err may be NULL (err_len 0) when no message is wanted.
 */
int gguf_open(const char *path, gguf_t **out, char *err, size_t err_len);

/*
 * As gguf_open, over a caller's buffer of len bytes, which must outlive the gguf_t and is not copied.
 * `name` is used in error messages. Used by tests (the malformed-file corpus) and fuzzers.
 */
int gguf_open_mem(const void *buf, size_t len, const char *name, gguf_t **out, char *err, size_t err_len);

/*
 * Renders a name from a file (a key, a tensor name) for a one-line message: printable ASCII as is, other bytes as
 * \xNN, cut after GGUF_QUOTE_MAX bytes with "...". out must hold GGUF_QUOTE_BUF bytes; returns out.
 */
#define GGUF_QUOTE_MAX 96
#define GGUF_QUOTE_BUF (GGUF_QUOTE_MAX * 4 + 4)
const char *gguf_quote(gguf_str_t s, char *out);

/* Unmaps and frees. gguf_close(NULL) is a no-op. */
void gguf_close(gguf_t *g);

/* The GGUF version of the file (2 or 3). */
uint32_t gguf_version(const gguf_t *g);

/* The data section alignment in bytes (general.alignment, default 32). */
uint32_t gguf_alignment(const gguf_t *g);

/* Number of metadata key/values, the i-th key (0 <= i < n) and its type. An i out of range gives an empty key
 * and GGUF_UINT8 (a caller bug, reported without crashing). */
int64_t gguf_n_kv(const gguf_t *g);
gguf_str_t gguf_kv_key(const gguf_t *g, int64_t i);
gguf_type_t gguf_kv_type(const gguf_t *g, int64_t i);

/* Index of key (a NUL-terminated string), or -1 when absent. */
int64_t gguf_find_key(const gguf_t *g, const char *key);

/*
 * Typed getters by key. Each returns 0 and stores the value, ERR_NOTFOUND when the key is absent, ERR_TYPE
 * when the stored type does not convert, or ERR_RANGE when the value does not fit the result type.
 * Integer getters accept any integer type whose value fits; float getters accept FLOAT32/FLOAT64 and
 * integer types; gguf_get_bool accepts BOOL only.
 */
int gguf_get_u32(const gguf_t *g, const char *key, uint32_t *out);
int gguf_get_i32(const gguf_t *g, const char *key, int32_t *out);
int gguf_get_u64(const gguf_t *g, const char *key, uint64_t *out);
int gguf_get_f32(const gguf_t *g, const char *key, float *out);
int gguf_get_bool(const gguf_t *g, const char *key, bool *out);
int gguf_get_str(const gguf_t *g, const char *key, gguf_str_t *out);
int gguf_get_arr(const gguf_t *g, const char *key, const gguf_arr_t **out);

/* Element readers for numeric arrays (i < arr->n; the caller checks arr->type). Unaligned-safe. They return 0
 * when the element type does not match or i is out of range, rather than read outside the array. */
float gguf_arr_f32(const gguf_arr_t *arr, uint64_t i);   /* GGUF_FLOAT32 */
int32_t gguf_arr_i32(const gguf_arr_t *arr, uint64_t i); /* GGUF_INT32 or GGUF_UINT32 (reinterpreted) */

/* True when s equals the NUL-terminated string lit. */
bool gguf_str_eq(gguf_str_t s, const char *lit);

/* Number of tensors, the i-th tensor (NULL when i is out of range), and lookup by name through a hash index
 * (NULL when absent). */
int64_t gguf_n_tensors(const gguf_t *g);
const gguf_tensor_t *gguf_tensor(const gguf_t *g, int64_t i);
const gguf_tensor_t *gguf_find_tensor(const gguf_t *g, const char *name);

/* The name the file was opened with (path or the name given to gguf_open_mem). */
const char *gguf_name(const gguf_t *g);

/*
 * Reads the tensors into memory, except the one named skip (NULL: none): for each, in file order, asks the kernel
 * to read it ahead, then touches one byte of every page, so that the first computations do not wait for the disk.
 * progress(user, done, total), when given, is called after each tensor (and every 16 MiB within a large one)
 * with the bytes read so far, ending with done == total (the tensors' bytes). Any thread; the mapping is
 * read-only.
 */
void gguf_prefault(const gguf_t *g, const char *skip,
                   void (*progress)(void *user, uint64_t done, uint64_t total), void *user);

#endif
