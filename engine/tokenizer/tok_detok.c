/*
 * tok_detok.c — ids back to bytes: the per-token piece cache, tok_piece, tok_decode, and the streaming
 * UTF-8 assembler.
 *
 * Owns: building t->piece at load; the tok_stream_t state machine. Does not: encode (tokenizer.c and friends).
 *
 * Pieces follow llama.cpp's token_to_piece: user-defined, control and unknown tokens are their text (the latter
 * two only when special tokens are rendered); normal SPM tokens have '▁' turned back into ' '; normal BPE tokens
 * map each code point of GPT-2's byte alphabet back to its byte (a code point outside the alphabet — only in
 * malformed vocabularies — is kept as its UTF-8 bytes, where llama.cpp writes an "[UNK_BYTE_...]" marker); byte
 * tokens <0xXX> are that byte; unused and undefined tokens are empty.
 *
 * The stream assembler validates UTF-8 as Unicode's Table 3-7 defines it and replaces each maximal ill-formed
 * subpart by U+FFFD, so whatever ids arrive, the output is well-formed UTF-8 and an incomplete sequence at the
 * end of one token's bytes waits (in the tok_stream_t, at most 3 bytes) for the next token.
 *
 * Threads: tok_piece / tok_decode read t only. A tok_stream_t is used by one thread at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tok_internal.h"

/* ---------- piece cache ---------- */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Strict decoding of one code point at s[i..n): its length, or 0 when ill-formed. */
static size_t utf8_decode(const unsigned char *s, size_t i, size_t n, uint32_t *cp) {
    unsigned char c = s[i];
    size_t len;
    uint32_t v, lo = 0x80, hi = 0xBF;
    if (c < 0x80) return *cp = c, 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1Fu;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0Fu, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07u, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else return 0;
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; k++) {
        unsigned char d = s[i + k];
        if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF)) return 0;
        v = (v << 6) | (d & 0x3Fu);
    }
    *cp = v;
    return len;
}

/* Writes token id's piece (render_special) at o; returns its length. o has room for the token's text length. */
static size_t build_piece(const tok_t *t, int32_t id, char *o) {
    const char *s = t->text + t->text_off[id];
    size_t n = t->text_off[id + 1] - t->text_off[id] - 1;
    uint16_t a = t->attr[id];
    if (a & (TOK__ATTR_UNKNOWN | TOK__ATTR_CONTROL | TOK__ATTR_USER_DEFINED)) {
        memcpy(o, s, n);
        return n;
    }
    if (a & TOK__ATTR_NORMAL) {
        size_t k = 0;
        if (t->kind != TOK__BPE) { /* SPM and WPM: U+2581 stands for a space */
            for (size_t i = 0; i < n; i++) {
                if (i + 2 < n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                    o[k++] = ' ';
                    i += 2;
                } else {
                    o[k++] = s[i];
                }
            }
            return k;
        }
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t l = utf8_decode((const unsigned char *)s, i, n, &cp);
            int b = l ? tok__bpe_cp_byte(cp) : -1;
            if (b >= 0) {
                o[k++] = (char)b;
                i += l;
            } else {
                l = l ? l : 1;
                memcpy(o + k, s + i, l);
                k += l;
                i += l;
            }
        }
        return k;
    }
    if (a & TOK__ATTR_BYTE) {
        int hi = n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' ? hexval(s[3]) : -1;
        int lo = hi >= 0 ? hexval(s[4]) : -1;
        if (lo >= 0) {
            o[0] = (char)(hi * 16 + lo);
            return 1;
        }
        memcpy(o, s, n); /* a byte token without the <0xXX> form: its text */
        return n;
    }
    return 0;
}

int tok__build_pieces(tok_t *t, char *err, size_t err_len) {
    t->piece = malloc(t->text_off[t->n_vocab] + 1);
    t->piece_off = malloc(((size_t)t->n_vocab + 1) * sizeof(uint32_t));
    if (!t->piece || !t->piece_off) return err_set(err, err_len, ERR_NOMEM, "tokenizer: out of memory");
    uint32_t off = 0;
    t->max_piece = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        t->piece_off[i] = off;
        size_t n = build_piece(t, i, t->piece + off);
        off += (uint32_t)n;
        if (n > t->max_piece) t->max_piece = n;
    }
    t->piece_off[t->n_vocab] = off;
    return 0;
}

/* ---------- pieces and decode ---------- */

/* The cached piece of id as tok_piece renders it. */
static const char *piece_of(const tok_t *t, int32_t id, bool render_special, size_t *n) {
    if (!render_special && (t->attr[id] & (TOK__ATTR_UNKNOWN | TOK__ATTR_CONTROL))) {
        *n = 0;
        return t->piece;
    }
    *n = t->piece_off[id + 1] - t->piece_off[id];
    return t->piece + t->piece_off[id];
}

int tok_piece(const tok_t *t, int32_t id, bool render_special, char *buf, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!t || !n_out || (!buf && cap > 0)) return ERR_INVAL;
    if (id < 0 || id >= t->n_vocab) return ERR_RANGE;
    size_t n;
    const char *p = piece_of(t, id, render_special, &n);
    if (cap > 0 && n > 0) memcpy(buf, p, n < cap ? n : cap);
    *n_out = n;
    return n > cap ? ERR_RANGE : 0;
}

size_t tok_max_piece_len(const tok_t *t) { return t ? t->max_piece : 0; }

int tok_decode(const tok_t *t, const int32_t *ids, size_t n_ids, bool render_special, bool skip_space_prefix,
               char *buf, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!t || !n_out || (!ids && n_ids > 0) || (!buf && cap > 0)) return ERR_INVAL;
    size_t total = 0;
    bool strip = skip_space_prefix && t->add_space_prefix;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) return ERR_RANGE;
        size_t n;
        const char *p = piece_of(t, ids[i], render_special, &n);
        if (strip && i == 0 && t->add_bos && ids[i] == t->bos) {
            strip = false; /* llama.cpp: a leading BOS means the first text has no prefix to remove */
        } else if (strip) {
            if (n > 0 && p[0] == ' ') p++, n--;
            strip = false;
        }
        if (total < cap && n > 0) memcpy(buf + total, p, n < cap - total ? n : cap - total);
        total += n;
    }
    *n_out = total;
    return total > cap ? ERR_RANGE : 0;
}

/* ---------- streaming UTF-8 ---------- */

static const char fffd[3] = {'\xEF', '\xBF', '\xBD'};

/* Bounds of the byte after lead byte c (Table 3-7); false when c cannot start a multi-byte sequence. */
static bool lead_info(unsigned char c, size_t *len, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80, *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) *len = 2;
    else if (c >= 0xE0 && c <= 0xEF) *len = 3, *lo = c == 0xE0 ? 0xA0 : 0x80, *hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) *len = 4, *lo = c == 0xF0 ? 0x90 : 0x80, *hi = c == 0xF4 ? 0x8F : 0xBF;
    else return false;
    return true;
}

/*
 * Feeds n bytes through the assembler whose held-back bytes are pend[0..*n_pend). Complete sequences and
 * U+FFFD replacements go to out when out is non-NULL (the caller made room); returns the output size either way.
 */
static size_t stream_feed(unsigned char *pend, size_t *n_pend, const unsigned char *b, size_t n, char *out) {
    size_t k = 0;
#define EMIT(src, len)                            \
    do {                                          \
        if (out) memcpy(out + k, (src), (len));   \
        k += (len);                               \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        unsigned char c = b[i];
        if (*n_pend > 0) {
            size_t len = 4;
            unsigned char lo, hi;
            lead_info(pend[0], &len, &lo, &hi); /* pend[0] is a lead byte: checked on entry, kept so after */
            if (*n_pend > 1) lo = 0x80, hi = 0xBF;
            if (c >= lo && c <= hi) {
                pend[(*n_pend)++] = c;
                if (*n_pend == len) {
                    EMIT(pend, len);
                    *n_pend = 0;
                }
                continue;
            }
            EMIT(fffd, 3); /* the held-back prefix is a maximal ill-formed subpart; c starts afresh */
            *n_pend = 0;
        }
        if (c < 0x80) {
            EMIT(&c, 1);
            continue;
        }
        size_t len;
        unsigned char lo, hi;
        if (lead_info(c, &len, &lo, &hi)) pend[(*n_pend)++] = c;
        else EMIT(fffd, 3);
    }
#undef EMIT
    return k;
}

size_t tok_stream_cap(const tok_t *t) { return 3 * ((t ? t->max_piece : 0) + 3); }

void tok_stream_init(tok_stream_t *s) {
    if (s) memset(s, 0, sizeof *s);
}

int tok_stream_push_bytes(tok_stream_t *s, const void *bytes, size_t n, char *out, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!s || !n_out || (!bytes && n > 0) || (!out && cap > 0)) return ERR_INVAL;
    if (s->n_pending > 0) { /* a state this module could have left: a lead byte and fewer bytes than it needs */
        size_t len;
        unsigned char lo, hi;
        if (!lead_info(s->pending[0], &len, &lo, &hi) || s->n_pending >= len) return ERR_INVAL;
    }
    unsigned char pend[8];
    size_t n_pend = s->n_pending;
    memcpy(pend, s->pending, sizeof pend);
    size_t need = stream_feed(pend, &n_pend, bytes, n, NULL);
    *n_out = need;
    if (need > cap) return ERR_RANGE;
    stream_feed(s->pending, &s->n_pending, bytes, n, out);
    return 0;
}

int tok_stream_push(tok_stream_t *s, const tok_t *t, int32_t id, char *out, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!t || !n_out) return ERR_INVAL;
    if (id < 0 || id >= t->n_vocab) return ERR_RANGE;
    size_t n;
    const char *p = piece_of(t, id, false, &n);
    return tok_stream_push_bytes(s, p, n, out, cap, n_out);
}

int tok_stream_flush(tok_stream_t *s, char *out, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!s || !n_out || (!out && cap > 0)) return ERR_INVAL;
    size_t need = s->n_pending ? 3 : 0;
    *n_out = need;
    if (need > cap) return ERR_RANGE;
    if (need) memcpy(out, fffd, 3);
    s->n_pending = 0;
    return 0;
}
