/*
 * gguf.c — the GGUF reader: maps a file, validates all of it in one forward pass, and serves lookups.
 *
 * Owns: the mapping (or borrowed buffer), the array of parsed key/values, the tensor descriptors, the string
 * views of string arrays, and two hash indexes (keys, tensor names).
 * Does not: look at what the metadata means, touch tensor data beyond computing where it lies, or write files.
 *
 * Parsing goes through a cursor (gguf__rd_t) whose every read is checked against the bytes left, so a
 * malformed file can only make a read fail, never run past the end. Every count is bounded by the bytes left
 * before anything is allocated for it (each element needs a minimum number of bytes on disk), so allocations
 * stay proportional to the file size. Arithmetic on sizes read from the file is checked for overflow before
 * it is done. The first problem found ends the parse with one line naming the file and the problem.
 *
 * Layout of a (little-endian) GGUF v2/v3 file:
 *   "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv x   { str key | u32 type | value }        value: scalar, str (u64 len + bytes), or
 *                                                   array (u32 elem type | u64 n | n values)
 *   n_tensors x { str name | u32 n_dims | u64 ne[n_dims] | u32 type | u64 offset }
 *   padding to general.alignment | data section (tensor offsets are relative to its start)
 *
 * A file mapped by gguf_open that is truncated by another process while mapped can still raise SIGBUS on
 * access; that is outside what validation at open can prevent.
 */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define GGUF__DEFAULT_ALIGNMENT 32u
#define GGUF__MAX_DEPTH         8  /* arrays nested deeper than this are refused (bounds the recursion) */
#define GGUF__MIN_KV_BYTES      14 /* u64 key len + 1 key byte + u32 type + a 1-byte value */
#define GGUF__MIN_TENSOR_BYTES  33 /* u64 name len + 1 name byte + u32 n_dims + u64 ne[0] + u32 type + u64 offset */
#define GGUF__HEADER_BYTES      24 /* magic + version + n_tensors + n_kv */
#define GGUF__QUOTE_MAX         GGUF_QUOTE_MAX

/* One metadata entry. The value lives in the member that matches `type`. */
typedef struct {
    gguf_str_t key;
    gguf_type_t type;
    union {
        uint64_t u;     /* GGUF_UINT8 .. GGUF_UINT64 */
        int64_t i;      /* GGUF_INT8 .. GGUF_INT64 */
        double f;       /* GGUF_FLOAT32 (exact), GGUF_FLOAT64 */
        bool b;         /* GGUF_BOOL */
        gguf_str_t s;   /* GGUF_STRING */
        gguf_arr_t arr; /* GGUF_ARRAY; arr.strs is owned (malloc) when arr.type is GGUF_STRING */
    } v;
} gguf__kv_t;

/* Open-addressing hash index from a name to an entry number. `id1` is the entry number + 1; 0 marks empty. */
typedef struct {
    gguf_str_t name;
    int64_t id1;
} gguf__slot_t;

typedef struct {
    gguf__slot_t *slots;
    uint64_t mask; /* capacity - 1; capacity is a power of two, at least twice the entry count */
} gguf__index_t;

struct gguf {
    char *name;          /* path or caller's name, for messages */
    const uint8_t *base; /* first byte of the file */
    size_t size;         /* file bytes */
    void *map;           /* the mmap region, NULL for gguf_open_mem */
    uint32_t version;    /* 2 or 3 */
    uint32_t alignment;  /* bytes, a power of two */
    uint64_t data_start; /* file offset of the data section */
    int64_t n_kv;
    gguf__kv_t *kv; /* (n_kv,) */
    gguf__index_t kv_index;
    int64_t n_tensors;
    gguf_tensor_t *tensors; /* (n_tensors,) in file order */
    gguf__index_t tensor_index;
};

/* A bounds-checked cursor over the file, plus where errors go. */
typedef struct {
    const uint8_t *p;
    size_t size;
    size_t pos;
    const char *name;
    char *err;
    size_t err_len;
} gguf__rd_t;

/* Bytes per element of each scalar value type; 0 for STRING and ARRAY. */
static const uint8_t gguf__type_size[GGUF_FLOAT64 + 1] = {
    [GGUF_UINT8] = 1,   [GGUF_INT8] = 1, [GGUF_UINT16] = 2, [GGUF_INT16] = 2, [GGUF_UINT32] = 4,  [GGUF_INT32] = 4,
    [GGUF_FLOAT32] = 4, [GGUF_BOOL] = 1, [GGUF_UINT64] = 8, [GGUF_INT64] = 8, [GGUF_FLOAT64] = 8,
};

static const char *const gguf__type_names[GGUF_FLOAT64 + 1] = {
    "uint8", "int8",   "uint16", "int16",  "uint32", "int32",   "float32",
    "bool",  "string", "array",  "uint64", "int64",  "float64",
};

static const char *gguf__type_name(uint32_t t) { return t <= GGUF_FLOAT64 ? gguf__type_names[t] : "unknown"; }

/* ---- little-endian loads (the file may put any value at any byte offset) ---- */

static uint16_t gguf__le16(const uint8_t *p) { return (uint16_t)(p[0] | (uint16_t)p[1] << 8); }

static uint32_t gguf__le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t gguf__le64(const uint8_t *p) { return (uint64_t)gguf__le32(p) | (uint64_t)gguf__le32(p + 4) << 32; }

/* ---- messages ---- */

/* Writes "<file>: <message>" into the reader's error buffer and returns code. */
__attribute__((format(printf, 3, 4))) static int gguf__fail(const gguf__rd_t *r, int code, const char *fmt, ...) {
    if (!r->err || r->err_len == 0) return code;
    int n = snprintf(r->err, r->err_len, "%s: ", r->name);
    if (n >= 0 && (size_t)n < r->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err + n, r->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return code;
}

#define GGUF__QUOTE_BUF GGUF_QUOTE_BUF

const char *gguf_quote(gguf_str_t s, char *out) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    uint64_t n = s.len < GGUF__QUOTE_MAX ? s.len : GGUF__QUOTE_MAX;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (s.len > n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* ---- the cursor ---- */

static int gguf__need(gguf__rd_t *r, uint64_t n, const char *what) {
    if (n > r->size - r->pos)
        return gguf__fail(r, ERR_FORMAT, "file truncated: %s at offset %zu needs %" PRIu64 " bytes, %zu left", what,
                          r->pos, n, r->size - r->pos);
    return 0;
}

static int gguf__u32(gguf__rd_t *r, uint32_t *v, const char *what) {
    int rc = gguf__need(r, 4, what);
    if (rc) return rc;
    *v = gguf__le32(r->p + r->pos);
    r->pos += 4;
    return 0;
}

static int gguf__u64(gguf__rd_t *r, uint64_t *v, const char *what) {
    int rc = gguf__need(r, 8, what);
    if (rc) return rc;
    *v = gguf__le64(r->p + r->pos);
    r->pos += 8;
    return 0;
}

/* A GGUF string: u64 length, then that many bytes; *s becomes a view into the file. */
static int gguf__str(gguf__rd_t *r, gguf_str_t *s, const char *what) {
    size_t at = r->pos;
    uint64_t len;
    int rc = gguf__u64(r, &len, what);
    if (rc) return rc;
    if (len > r->size - r->pos)
        return gguf__fail(r, ERR_FORMAT,
                          "%s at offset %zu has string length %" PRIu64
                          ", more than the %zu bytes left (file truncated or corrupt)",
                          what, at, len, r->size - r->pos);
    s->ptr = (const char *)r->p + r->pos;
    s->len = len;
    r->pos += (size_t)len;
    return 0;
}

/* ---- UTF-8 ---- */

/* True when s is well-formed UTF-8: shortest encodings only, no surrogates, nothing above U+10FFFF. */
static bool gguf__utf8_valid(gguf_str_t s) {
    const unsigned char *p = (const unsigned char *)s.ptr;
    uint64_t i = 0, n = s.len;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        unsigned need;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false; /* continuation byte, 0xc0/0xc1 (overlong), or 0xf5.. */
        }
        if (n - i <= need) return false;
        for (unsigned k = 1; k <= need; k++) {
            unsigned cc = p[i + k];
            if ((cc & 0xc0) != 0x80) return false;
            cp = cp << 6 | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += need + 1;
    }
    return true;
}

/* ---- hash index ---- */

static uint64_t gguf__hash(const char *p, uint64_t len) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (uint64_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int gguf__index_init(gguf__index_t *ix, uint64_t n) {
    uint64_t cap = 8;
    while (cap < 2 * n)
        cap <<= 1; /* n is bounded by the file size, far below 2^62 */
    ix->slots = calloc(cap, sizeof *ix->slots);
    if (!ix->slots) return ERR_NOMEM;
    ix->mask = cap - 1;
    return 0;
}

/* The entry number stored under name, or -1. */
static int64_t gguf__index_find(const gguf__index_t *ix, const char *p, uint64_t len) {
    if (!ix->slots) return -1;
    for (uint64_t h = gguf__hash(p, len) & ix->mask;; h = (h + 1) & ix->mask) {
        const gguf__slot_t *s = &ix->slots[h];
        if (s->id1 == 0) return -1;
        if (s->name.len == len && memcmp(s->name.ptr, p, len) == 0) return s->id1 - 1;
    }
}

/* Adds name -> id. Returns -1, or the existing entry number when the name is already present. */
static int64_t gguf__index_add(gguf__index_t *ix, gguf_str_t name, int64_t id) {
    for (uint64_t h = gguf__hash(name.ptr, name.len) & ix->mask;; h = (h + 1) & ix->mask) {
        gguf__slot_t *s = &ix->slots[h];
        if (s->id1 == 0) {
            s->name = name;
            s->id1 = id + 1;
            return -1;
        }
        if (s->name.len == name.len && memcmp(s->name.ptr, name.ptr, name.len) == 0) return s->id1 - 1;
    }
}

/* ---- metadata values ---- */

/*
 * Reads an array header and its elements. With out == NULL (a nested array) the elements are only
 * validated. `kq` is the quoted key, for messages.
 */
static int gguf__array(gguf__rd_t *r, gguf_arr_t *out, int depth, const char *kq) {
    size_t at = r->pos;
    uint32_t et;
    uint64_t n;
    int rc = gguf__u32(r, &et, "array element type");
    if (!rc) rc = gguf__u64(r, &n, "array length");
    if (rc) return rc;
    if (et > GGUF_FLOAT64)
        return gguf__fail(r, ERR_FORMAT, "key '%s': array at offset %zu has unknown element type %" PRIu32, kq, at, et);
    if (et == GGUF_ARRAY && depth + 1 >= GGUF__MAX_DEPTH)
        return gguf__fail(r, ERR_FORMAT, "key '%s': arrays nested more than %d deep", kq, GGUF__MAX_DEPTH);

    /* Smallest encoding of one element: its scalar size, a string's length field, a nested array's header. */
    uint64_t min_bytes = et == GGUF_STRING ? 8 : et == GGUF_ARRAY ? 12 : gguf__type_size[et];
    size_t left = r->size - r->pos;
    if (n > left / min_bytes)
        return gguf__fail(r, ERR_FORMAT,
                          "key '%s': array of %" PRIu64
                          " %s elements at offset %zu does not fit in the %zu bytes left (file truncated or corrupt)",
                          kq, n, gguf__type_name(et), at, left);
    if (out) {
        out->type = (gguf_type_t)et;
        out->n = n;
        out->data = NULL;
        out->strs = NULL;
    }

    if (et == GGUF_STRING) {
        gguf_str_t *strs = NULL;
        if (out && n > 0) {
            strs = malloc((size_t)n * sizeof *strs); /* n <= left / 8, so this cannot overflow */
            if (!strs) return gguf__fail(r, ERR_NOMEM, "key '%s': out of memory for %" PRIu64 " strings", kq, n);
            out->strs = strs; /* owned by the kv from here, freed by gguf_close */
        }
        for (uint64_t i = 0; i < n; i++) {
            gguf_str_t s;
            if ((rc = gguf__str(r, &s, "string array element"))) return rc;
            if (strs) strs[i] = s;
        }
    } else if (et == GGUF_ARRAY) {
        for (uint64_t i = 0; i < n; i++)
            if ((rc = gguf__array(r, NULL, depth + 1, kq))) return rc;
    } else {
        const uint8_t *data = r->p + r->pos;
        uint64_t bytes = n * min_bytes;
        if (et == GGUF_BOOL) {
            for (uint64_t i = 0; i < n; i++)
                if (data[i] > 1)
                    return gguf__fail(r, ERR_FORMAT,
                                      "key '%s': bool array element %" PRIu64 " has value %u (must be 0 or 1)", kq, i,
                                      data[i]);
        }
        if (out) out->data = data;
        r->pos += (size_t)bytes;
    }
    return 0;
}

/* Reads one value of type t (already checked to be a known type) into kv->v. */
static int gguf__value(gguf__rd_t *r, gguf__kv_t *kv, uint32_t t, const char *kq) {
    int rc;
    if (t == GGUF_STRING) return gguf__str(r, &kv->v.s, "string value");
    if (t == GGUF_ARRAY) return gguf__array(r, &kv->v.arr, 0, kq);
    if ((rc = gguf__need(r, gguf__type_size[t], "metadata value"))) return rc;
    const uint8_t *p = r->p + r->pos;
    r->pos += gguf__type_size[t];
    switch (t) {
    case GGUF_UINT8: kv->v.u = p[0]; break;
    case GGUF_INT8: kv->v.i = (int8_t)p[0]; break;
    case GGUF_UINT16: kv->v.u = gguf__le16(p); break;
    case GGUF_INT16: kv->v.i = (int16_t)gguf__le16(p); break;
    case GGUF_UINT32: kv->v.u = gguf__le32(p); break;
    case GGUF_INT32: kv->v.i = (int32_t)gguf__le32(p); break;
    case GGUF_UINT64: kv->v.u = gguf__le64(p); break;
    case GGUF_INT64: kv->v.i = (int64_t)gguf__le64(p); break;
    case GGUF_FLOAT32: {
        uint32_t bits = gguf__le32(p);
        float f;
        memcpy(&f, &bits, sizeof f);
        kv->v.f = f;
        break;
    }
    case GGUF_FLOAT64: {
        uint64_t bits = gguf__le64(p);
        memcpy(&kv->v.f, &bits, sizeof kv->v.f);
        break;
    }
    case GGUF_BOOL:
        if (p[0] > 1)
            return gguf__fail(r, ERR_FORMAT, "key '%s': bool value %u at offset %zu (must be 0 or 1)", kq, p[0],
                              r->pos - 1);
        kv->v.b = p[0] != 0;
        break;
    default: break;
    }
    return 0;
}

static int gguf__read_kvs(gguf__rd_t *r, gguf_t *g, uint64_t n_kv) {
    int rc;
    char kq[GGUF__QUOTE_BUF];
    if (n_kv == 0) return 0;
    g->kv = calloc((size_t)n_kv, sizeof *g->kv);
    if (!g->kv || gguf__index_init(&g->kv_index, n_kv))
        return gguf__fail(r, ERR_NOMEM, "out of memory for %" PRIu64 " metadata entries", n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf__kv_t *kv = &g->kv[i];
        size_t at = r->pos;
        uint32_t t;
        if ((rc = gguf__str(r, &kv->key, "metadata key"))) return rc;
        gguf_quote(kv->key, kq);
        if (kv->key.len == 0)
            return gguf__fail(r, ERR_FORMAT, "metadata key %" PRIu64 " at offset %zu is empty", i, at);
        if (!gguf__utf8_valid(kv->key))
            return gguf__fail(r, ERR_FORMAT, "metadata key '%s' at offset %zu is not valid UTF-8", kq, at);
        int64_t prev = gguf__index_add(&g->kv_index, kv->key, (int64_t)i);
        if (prev >= 0)
            return gguf__fail(r, ERR_FORMAT, "duplicate key '%s' (entries %" PRId64 " and %" PRIu64 ")", kq, prev, i);
        if ((rc = gguf__u32(r, &t, "metadata value type"))) return rc;
        if (t > GGUF_FLOAT64) return gguf__fail(r, ERR_FORMAT, "key '%s' has unknown value type %" PRIu32, kq, t);
        kv->type = (gguf_type_t)t;
        g->n_kv = (int64_t)i + 1; /* from here gguf_close frees what this entry owns */
        if ((rc = gguf__value(r, kv, t, kq))) return rc;
    }
    return 0;
}

/* Takes general.alignment when present: a uint32 power of two. */
static int gguf__read_alignment(gguf__rd_t *r, gguf_t *g) {
    g->alignment = GGUF__DEFAULT_ALIGNMENT;
    int64_t i = gguf_find_key(g, "general.alignment");
    if (i < 0) return 0;
    const gguf__kv_t *kv = &g->kv[i];
    if (kv->type != GGUF_UINT32)
        return gguf__fail(r, ERR_FORMAT, "general.alignment has type %s (must be uint32)", gguf__type_name(kv->type));
    uint64_t a = kv->v.u;
    if (a == 0 || (a & (a - 1)) != 0)
        return gguf__fail(r, ERR_FORMAT, "general.alignment %" PRIu64 " is not a power of two", a);
    g->alignment = (uint32_t)a;
    return 0;
}

/* ---- tensor infos ---- */

static int gguf__read_tensor(gguf__rd_t *r, gguf_t *g, int64_t i) {
    static const char supported[] = "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K";
    gguf_tensor_t *t = &g->tensors[i];
    char tq[GGUF__QUOTE_BUF];
    size_t at = r->pos;
    uint32_t n_dims, type;
    int rc;

    if ((rc = gguf__str(r, &t->name, "tensor name"))) return rc;
    if (t->name.len == 0) return gguf__fail(r, ERR_FORMAT, "tensor %" PRId64 " at offset %zu has an empty name", i, at);
    gguf_quote(t->name, tq);
    int64_t prev = gguf__index_add(&g->tensor_index, t->name, i);
    if (prev >= 0)
        return gguf__fail(r, ERR_FORMAT, "duplicate tensor name '%s' (tensors %" PRId64 " and %" PRId64 ")", tq, prev,
                          i);

    if ((rc = gguf__u32(r, &n_dims, "tensor dimension count"))) return rc;
    if (n_dims < 1 || n_dims > 4)
        return gguf__fail(r, ERR_FORMAT, "tensor '%s' has %" PRIu32 " dimensions (must be 1 to 4)", tq, n_dims);
    t->n_dims = n_dims;
    int64_t n_elems = 1;
    for (uint32_t d = 0; d < 4; d++) {
        uint64_t ne = 1;
        if (d < n_dims && (rc = gguf__u64(r, &ne, "tensor dimension"))) return rc;
        if (ne == 0) return gguf__fail(r, ERR_FORMAT, "tensor '%s' has a zero dimension (ne[%" PRIu32 "] = 0)", tq, d);
        if (ne > (uint64_t)INT64_MAX || n_elems > INT64_MAX / (int64_t)ne)
            return gguf__fail(r, ERR_FORMAT, "tensor '%s' element count overflows (ne[%" PRIu32 "] = %" PRIu64 ")", tq,
                              d, ne);
        t->ne[d] = (int64_t)ne;
        n_elems *= (int64_t)ne;
    }

    if ((rc = gguf__u32(r, &type, "tensor type"))) return rc;
    if (!dtype_supported(type)) {
        if (strcmp(dtype_name(type), "unknown") == 0)
            return gguf__fail(r, ERR_UNSUPPORTED,
                              "tensor '%s' has unknown type id %" PRIu32
                              ", which cinder does not support (supported: %s)",
                              tq, type, supported);
        return gguf__fail(r, ERR_UNSUPPORTED, "tensor '%s' has type %s, which cinder does not support (supported: %s)",
                          tq, dtype_name(type), supported);
    }
    t->type = (dtype_t)type;
    if ((rc = gguf__u64(r, &t->offset, "tensor data offset"))) return rc;

    /* Bytes: (ne[0] / block_elems) blocks per row, times block bytes, times the number of rows. */
    int64_t be = dtype_block_elems(type), bb = dtype_block_bytes(type);
    if (t->ne[0] % be != 0)
        return gguf__fail(r, ERR_FORMAT,
                          "tensor '%s' has ne[0] = %" PRId64 ", not a multiple of the %s block size %" PRId64, tq,
                          t->ne[0], dtype_name(type), be);
    int64_t blocks_per_row = t->ne[0] / be, rows = n_elems / t->ne[0];
    if (blocks_per_row > INT64_MAX / bb || blocks_per_row * bb > INT64_MAX / rows)
        return gguf__fail(r, ERR_FORMAT, "tensor '%s' byte size overflows", tq);
    t->n_bytes = (uint64_t)(blocks_per_row * bb * rows);
    return 0;
}

typedef struct {
    uint64_t begin, end; /* bytes from the data section start */
    int64_t id;
} gguf__span_t;

static int gguf__span_cmp(const void *a, const void *b) {
    const gguf__span_t *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

/* Places each tensor in the data section: aligned, inside the file, and no two overlapping. */
static int gguf__place_tensors(gguf__rd_t *r, gguf_t *g) {
    char tq[GGUF__QUOTE_BUF], uq[GGUF__QUOTE_BUF];
    int rc = 0;
    uint64_t data_size = g->size - g->data_start;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor_t *t = &g->tensors[i];
        if (t->offset % g->alignment != 0)
            return gguf__fail(r, ERR_FORMAT,
                              "tensor '%s' offset %" PRIu64 " is not a multiple of the alignment %" PRIu32,
                              gguf_quote(t->name, tq), t->offset, g->alignment);
        if (t->offset > data_size || t->n_bytes > data_size - t->offset) {
            uint64_t begin = t->offset > UINT64_MAX - g->data_start ? UINT64_MAX : g->data_start + t->offset;
            uint64_t end = t->n_bytes > UINT64_MAX - begin ? UINT64_MAX : begin + t->n_bytes;
            return gguf__fail(r, ERR_FORMAT,
                              "tensor '%s' data [%" PRIu64 ", %" PRIu64 ") lies outside the file (%zu bytes)",
                              gguf_quote(t->name, tq), begin, end, g->size);
        }
        t->data = g->base + g->data_start + t->offset;
    }
    if (g->n_tensors < 2) return 0;

    gguf__span_t *spans = malloc((size_t)g->n_tensors * sizeof *spans);
    if (!spans) return gguf__fail(r, ERR_NOMEM, "out of memory checking %" PRId64 " tensors", g->n_tensors);
    for (int64_t i = 0; i < g->n_tensors; i++)
        spans[i] = (gguf__span_t){g->tensors[i].offset, g->tensors[i].offset + g->tensors[i].n_bytes, i};
    qsort(spans, (size_t)g->n_tensors, sizeof *spans, gguf__span_cmp);
    for (int64_t i = 1; i < g->n_tensors; i++) {
        const gguf__span_t *a = &spans[i - 1], *b = &spans[i];
        if (a->end > b->begin) {
            rc = gguf__fail(r, ERR_FORMAT,
                            "tensors '%s' [%" PRIu64 ", %" PRIu64 ") and '%s' [%" PRIu64 ", %" PRIu64
                            ") overlap in the data section",
                            gguf_quote(g->tensors[a->id].name, tq), a->begin, a->end,
                            gguf_quote(g->tensors[b->id].name, uq), b->begin, b->end);
            break;
        }
    }
    free(spans);
    return rc;
}

/* ---- the whole file ---- */

static int gguf__parse(gguf_t *g, char *err, size_t err_len) {
    gguf__rd_t r = {g->base, g->size, 0, g->name, err, err_len};
    uint64_t n_tensors, n_kv;
    int rc;

    if (g->size < 4) return gguf__fail(&r, ERR_FORMAT, "not a GGUF file (only %zu bytes)", g->size);
    if (memcmp(g->base, "GGUF", 4) != 0)
        return gguf__fail(&r, ERR_FORMAT, "not a GGUF file (magic bytes %02x %02x %02x %02x, expected \"GGUF\")",
                          g->base[0], g->base[1], g->base[2], g->base[3]);
    r.pos = 4;
    if ((rc = gguf__u32(&r, &g->version, "version"))) return rc;
    uint32_t swapped = __builtin_bswap32(g->version);
    if (g->version == 1)
        return gguf__fail(&r, ERR_UNSUPPORTED,
                          "GGUF version 1 is not supported; convert the file with a current llama.cpp");
    if (swapped >= 1 && swapped <= 3)
        return gguf__fail(&r, ERR_UNSUPPORTED,
                          "big-endian GGUF file (version %" PRIu32
                          " with its bytes swapped); cinder reads only little-endian files",
                          swapped);
    if (g->version != 2 && g->version != 3)
        return gguf__fail(&r, ERR_UNSUPPORTED,
                          "GGUF version %" PRIu32 " is not supported (cinder reads versions 2 and 3)", g->version);
    if ((rc = gguf__u64(&r, &n_tensors, "tensor count"))) return rc;
    if ((rc = gguf__u64(&r, &n_kv, "metadata count"))) return rc;

    /* Counts the rest of the file could not hold are refused before anything is allocated for them. */
    uint64_t body = g->size - GGUF__HEADER_BYTES;
    if (n_kv > body / GGUF__MIN_KV_BYTES)
        return gguf__fail(&r, ERR_FORMAT,
                          "metadata count %" PRIu64 " cannot fit in a file of %zu bytes (file truncated or corrupt)",
                          n_kv, g->size);
    if (n_tensors > body / GGUF__MIN_TENSOR_BYTES)
        return gguf__fail(&r, ERR_FORMAT,
                          "tensor count %" PRIu64 " cannot fit in a file of %zu bytes (file truncated or corrupt)",
                          n_tensors, g->size);
    if (n_kv * GGUF__MIN_KV_BYTES + n_tensors * GGUF__MIN_TENSOR_BYTES > body)
        return gguf__fail(&r, ERR_FORMAT,
                          "metadata count %" PRIu64 " and tensor count %" PRIu64
                          " cannot fit in a file of %zu bytes (file truncated or corrupt)",
                          n_kv, n_tensors, g->size);

    if ((rc = gguf__read_kvs(&r, g, n_kv))) return rc;
    if ((rc = gguf__read_alignment(&r, g))) return rc;

    if (n_tensors > 0) {
        g->tensors = calloc((size_t)n_tensors, sizeof *g->tensors);
        if (!g->tensors || gguf__index_init(&g->tensor_index, n_tensors))
            return gguf__fail(&r, ERR_NOMEM, "out of memory for %" PRIu64 " tensors", n_tensors);
        for (uint64_t i = 0; i < n_tensors; i++)
            if ((rc = gguf__read_tensor(&r, g, (int64_t)i))) return rc;
        g->n_tensors = (int64_t)n_tensors;
    }

    /* The data section starts at the next multiple of the alignment. A file without tensors may end first. */
    uint64_t header_end = r.pos;
    g->data_start = (header_end + g->alignment - 1) / g->alignment * g->alignment;
    if (g->data_start > g->size) {
        if (g->n_tensors > 0)
            return gguf__fail(&r, ERR_FORMAT,
                              "data section would start at offset %" PRIu64 " (alignment %" PRIu32
                              "), past the end of the file (%zu bytes): file truncated",
                              g->data_start, g->alignment, g->size);
        g->data_start = g->size;
    }
    return gguf__place_tensors(&r, g);
}

/* Builds a gguf_t over [base, base + size); takes ownership of map (unmapped on failure). */
static int gguf__open(const void *base, size_t size, void *map, const char *name, gguf_t **out, char *err,
                      size_t err_len) {
    gguf_t *g = calloc(1, sizeof *g);
    char *name_copy = strdup(name);
    if (!g || !name_copy) {
        free(g);
        free(name_copy);
        if (map) munmap(map, size);
        return err_set(err, err_len, ERR_NOMEM, "%s: out of memory", name);
    }
    g->name = name_copy;
    g->base = base;
    g->size = size;
    g->map = map;
    int rc = gguf__parse(g, err, err_len);
    if (rc) {
        gguf_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

int gguf_open(const char *path, gguf_t **out, char *err, size_t err_len) {
    char eb[128];
    struct stat st;
    if (!out) return err_set(err, err_len, ERR_INVAL, "gguf_open: out is NULL");
    *out = NULL;
    if (!path) return err_set(err, err_len, ERR_INVAL, "gguf_open: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(err, err_len, ERR_IO, "%s: cannot open: %s", path, strerror_r(errno, eb, sizeof eb));
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, err_len, ERR_IO, "%s: cannot stat: %s", path, strerror_r(e, eb, sizeof eb));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, err_len, ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 4) {
        close(fd);
        return err_set(err, err_len, ERR_FORMAT, "%s: not a GGUF file (only %lld bytes)", path, (long long)st.st_size);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return err_set(err, err_len, ERR_IO, "%s: file too large to map", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return err_set(err, err_len, ERR_IO, "%s: cannot map: %s", path, strerror_r(e, eb, sizeof eb));
    return gguf__open(map, size, map, path, out, err, err_len);
}

int gguf_open_mem(const void *buf, size_t len, const char *name, gguf_t **out, char *err, size_t err_len) {
    if (!name) name = "<memory>";
    if (!out) return err_set(err, err_len, ERR_INVAL, "%s: out is NULL", name);
    *out = NULL;
    if (!buf && len > 0) return err_set(err, err_len, ERR_INVAL, "%s: buffer is NULL", name);
    static const uint8_t empty[1];
    return gguf__open(buf ? buf : empty, len, NULL, name, out, err, err_len);
}

void gguf_prefault(const gguf_t *g, const char *skip, void (*progress)(void *user, uint64_t done, uint64_t total),
                   void *user) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uint64_t step = 4096, report = 16u << 20;
    uint64_t total = 0, done = 0;
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (!skip || !gguf_str_eq(g->tensors[i].name, skip)) total += g->tensors[i].n_bytes;
    uint8_t sink = 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor_t *t = &g->tensors[i];
        if ((skip && gguf_str_eq(t->name, skip)) || t->n_bytes == 0) continue;
        const uint8_t *p = t->data;
        if (g->map) { /* the advice wants a page-aligned start */
            const uintptr_t a = (uintptr_t)p & ~(page - 1);
            (void)posix_madvise((void *)a, (size_t)((uintptr_t)p + t->n_bytes - a), POSIX_MADV_WILLNEED);
        }
        for (uint64_t off = 0; off < t->n_bytes; off += step) {
            sink ^= *(const volatile uint8_t *)(p + off);
            if (progress && off && off % report == 0) progress(user, done + off, total);
        }
        sink ^= *(const volatile uint8_t *)(p + t->n_bytes - 1); /* the last page, when step skipped into it */
        done += t->n_bytes;
        if (progress && done < total) progress(user, done, total);
    }
    (void)sink;
    if (progress) progress(user, total, total);
}

void gguf_close(gguf_t *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].type == GGUF_ARRAY && g->kv[i].v.arr.type == GGUF_STRING) free((void *)g->kv[i].v.arr.strs);
    free(g->kv);
    free(g->kv_index.slots);
    free(g->tensors);
    free(g->tensor_index.slots);
    if (g->map) munmap(g->map, g->size);
    free(g->name);
    free(g);
}

/* ---- accessors ---- */

uint32_t gguf_version(const gguf_t *g) { return g->version; }
uint32_t gguf_alignment(const gguf_t *g) { return g->alignment; }
int64_t gguf_n_kv(const gguf_t *g) { return g->n_kv; }
int64_t gguf_n_tensors(const gguf_t *g) { return g->n_tensors; }
const char *gguf_name(const gguf_t *g) { return g->name; }

gguf_str_t gguf_kv_key(const gguf_t *g, int64_t i) {
    if (i < 0 || i >= g->n_kv) return (gguf_str_t){"", 0};
    return g->kv[i].key;
}

gguf_type_t gguf_kv_type(const gguf_t *g, int64_t i) {
    if (i < 0 || i >= g->n_kv) return GGUF_UINT8; /* out of range: documented as the caller's bug */
    return g->kv[i].type;
}

int64_t gguf_find_key(const gguf_t *g, const char *key) {
    if (!g || !key) return -1;
    return gguf__index_find(&g->kv_index, key, strlen(key));
}

static const gguf__kv_t *gguf__get(const gguf_t *g, const char *key) {
    int64_t i = gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

static bool gguf__is_unsigned(gguf_type_t t) {
    return t == GGUF_UINT8 || t == GGUF_UINT16 || t == GGUF_UINT32 || t == GGUF_UINT64;
}

static bool gguf__is_signed(gguf_type_t t) {
    return t == GGUF_INT8 || t == GGUF_INT16 || t == GGUF_INT32 || t == GGUF_INT64;
}

/*
 * Reads an integer entry of any width and signedness for a range check: *neg tells whether it is negative;
 * *i holds it when it is signed, *u when it is not negative. Returns 0, ERR_NOTFOUND or ERR_TYPE.
 */
static int gguf__get_int(const gguf_t *g, const char *key, bool *neg, int64_t *i, uint64_t *u) {
    const gguf__kv_t *kv = gguf__get(g, key);
    if (!kv) return ERR_NOTFOUND;
    if (gguf__is_unsigned(kv->type)) {
        *neg = false;
        *u = kv->v.u;
        return 0;
    }
    if (gguf__is_signed(kv->type)) {
        *neg = kv->v.i < 0;
        *i = kv->v.i;
        *u = kv->v.i < 0 ? 0 : (uint64_t)kv->v.i;
        return 0;
    }
    return ERR_TYPE;
}

int gguf_get_u32(const gguf_t *g, const char *key, uint32_t *out) {
    bool neg;
    int64_t i;
    uint64_t u;
    int rc = gguf__get_int(g, key, &neg, &i, &u);
    if (rc) return rc;
    if (neg || u > UINT32_MAX) return ERR_RANGE;
    *out = (uint32_t)u;
    return 0;
}

int gguf_get_i32(const gguf_t *g, const char *key, int32_t *out) {
    bool neg;
    int64_t i;
    uint64_t u;
    int rc = gguf__get_int(g, key, &neg, &i, &u);
    if (rc) return rc;
    if (neg) {
        if (i < INT32_MIN) return ERR_RANGE;
        *out = (int32_t)i;
        return 0;
    }
    if (u > INT32_MAX) return ERR_RANGE;
    *out = (int32_t)u;
    return 0;
}

int gguf_get_u64(const gguf_t *g, const char *key, uint64_t *out) {
    bool neg;
    int64_t i;
    uint64_t u;
    int rc = gguf__get_int(g, key, &neg, &i, &u);
    if (rc) return rc;
    if (neg) return ERR_RANGE;
    *out = u;
    return 0;
}

int gguf_get_f32(const gguf_t *g, const char *key, float *out) {
    const gguf__kv_t *kv = gguf__get(g, key);
    if (!kv) return ERR_NOTFOUND;
    if (kv->type == GGUF_FLOAT32 || kv->type == GGUF_FLOAT64) {
        if (isfinite(kv->v.f) && fabs(kv->v.f) > FLT_MAX) return ERR_RANGE;
        *out = (float)kv->v.f;
        return 0;
    }
    if (gguf__is_unsigned(kv->type)) {
        *out = (float)kv->v.u;
        return 0;
    }
    if (gguf__is_signed(kv->type)) {
        *out = (float)kv->v.i;
        return 0;
    }
    return ERR_TYPE;
}

int gguf_get_bool(const gguf_t *g, const char *key, bool *out) {
    const gguf__kv_t *kv = gguf__get(g, key);
    if (!kv) return ERR_NOTFOUND;
    if (kv->type != GGUF_BOOL) return ERR_TYPE;
    *out = kv->v.b;
    return 0;
}

int gguf_get_str(const gguf_t *g, const char *key, gguf_str_t *out) {
    const gguf__kv_t *kv = gguf__get(g, key);
    if (!kv) return ERR_NOTFOUND;
    if (kv->type != GGUF_STRING) return ERR_TYPE;
    *out = kv->v.s;
    return 0;
}

int gguf_get_arr(const gguf_t *g, const char *key, const gguf_arr_t **out) {
    const gguf__kv_t *kv = gguf__get(g, key);
    if (!kv) return ERR_NOTFOUND;
    if (kv->type != GGUF_ARRAY) return ERR_TYPE;
    *out = &kv->v.arr;
    return 0;
}

float gguf_arr_f32(const gguf_arr_t *arr, uint64_t i) {
    if (!arr || arr->type != GGUF_FLOAT32 || !arr->data || i >= arr->n) return 0.0f;
    uint32_t bits = gguf__le32(arr->data + 4 * i);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int32_t gguf_arr_i32(const gguf_arr_t *arr, uint64_t i) {
    if (!arr || (arr->type != GGUF_INT32 && arr->type != GGUF_UINT32) || !arr->data || i >= arr->n) return 0;
    return (int32_t)gguf__le32(arr->data + 4 * i);
}

bool gguf_str_eq(gguf_str_t s, const char *lit) {
    size_t n = strlen(lit);
    return s.len == n && (n == 0 || memcmp(s.ptr, lit, n) == 0);
}

const gguf_tensor_t *gguf_tensor(const gguf_t *g, int64_t i) {
    if (!g || i < 0 || i >= g->n_tensors) return NULL;
    return &g->tensors[i];
}

const gguf_tensor_t *gguf_find_tensor(const gguf_t *g, const char *name) {
    if (!g || !name) return NULL;
    int64_t i = gguf__index_find(&g->tensor_index, name, strlen(name));
    return i < 0 ? NULL : &g->tensors[i];
}
