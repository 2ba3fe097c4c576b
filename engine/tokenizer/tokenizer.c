/*
 * tokenizer.c — loading a GGUF vocabulary, special tokens, and the encoder's front half.
 *
 * Owns: tok_load / tok_free, the accessors, the text -> id hash index, the special-token partitioning of an
 * input, and the dispatch of each plain-text run to the SPM (tok_spm.c), BPE (tok_bpe.c) or WordPiece
 * (tok_wpm.c) encoder.
 * Does not: merge pieces (tok_spm.c, tok_bpe.c), split words (tok_pretok.c), or turn ids back into bytes
 * (tok_detok.c).
 *
 * Load follows llama.cpp's llama_vocab::impl::load step by step (defaults, metadata overrides, the text-based
 * detection of end-of-turn tokens, the attribute fix-ups) so that the same ids come out; each step below says
 * which behaviour it reproduces. Partitioning reproduces tokenizer_st_partition: special tokens are taken
 * longest first, and each one splits every remaining plain-text run at all of its occurrences. A byte trie over
 * the special texts first finds which of them occur in the input at all, so an input costs O(len * trie depth)
 * plus work proportional to the tokens actually present, not O(len * number of special tokens).
 *
 * Threads: tok_load builds; everything else only reads t.
 */
#include "tokenizer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "tok_internal.h"

/* ---------- small vectors ---------- */

static int tok__grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return ERR_NOMEM;
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q) return ERR_NOMEM;
    *p = q;
    *cap = c;
    return 0;
}

int tok__ids_push(tok__ids_t *o, int32_t id) {
    if (o->n == o->cap && tok__grow((void **)&o->v, &o->cap, o->n + 1, sizeof(int32_t))) return ERR_NOMEM;
    o->v[o->n++] = id;
    return 0;
}

int tok__spans_push(tok__spans_t *s, size_t off, size_t len) {
    if (s->n == s->cap && tok__grow((void **)&s->v, &s->cap, s->n + 1, sizeof(tok__span_t))) return ERR_NOMEM;
    s->v[s->n].off = off;
    s->v[s->n].len = len;
    s->n++;
    return 0;
}

int tok__buf_reserve(tok__buf_t *b, size_t cap) {
    return tok__grow((void **)&b->p, &b->cap, cap, 1);
}

size_t tok__utf8_put(uint32_t cp, char *o) {
    unsigned char *u = (unsigned char *)o;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | (cp >> 18));
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---------- hashing ---------- */

uint32_t tok__hash(const void *p, size_t n, uint64_t seed) {
    const unsigned char *s = p;
    uint64_t h = seed ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)s[i] << (8 * i);
    h = (h ^ v) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return (uint32_t)h;
}

int tok__table_init(tok__table_t *tb, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) {
        if (cap > ((size_t)1 << 30)) return ERR_NOMEM;
        cap *= 2;
    }
    tb->slot = malloc(cap * sizeof(int32_t));
    tb->hash = malloc(cap * sizeof(uint32_t));
    if (!tb->slot || !tb->hash) return ERR_NOMEM;
    memset(tb->slot, 0xFF, cap * sizeof(int32_t));
    tb->mask = (uint32_t)(cap - 1);
    return 0;
}

static void tok__table_free(tok__table_t *tb) {
    free(tb->slot);
    free(tb->hash);
    tb->slot = NULL;
    tb->hash = NULL;
}

static const char *tok__text_of(const tok_t *t, int32_t id, size_t *n) {
    *n = t->text_off[id + 1] - t->text_off[id] - 1;
    return t->text + t->text_off[id];
}

int32_t tok__find(const tok_t *t, const char *s, size_t n) {
    uint32_t h = tok__hash(s, n, 0);
    for (uint32_t i = h & t->vocab.mask;; i = (i + 1) & t->vocab.mask) {
        int32_t id = t->vocab.slot[i];
        if (id < 0) return -1;
        if (t->vocab.hash[i] != h) continue;
        size_t len;
        const char *txt = tok__text_of(t, id, &len);
        if (len == n && memcmp(txt, s, n) == 0) return id;
    }
}

/* Indexes token id by its text; a later id with the same text replaces the earlier one (llama.cpp's
   token_to_id[word] = i). */
static void tok__vocab_insert(tok_t *t, int32_t id) {
    size_t n;
    const char *s = tok__text_of(t, id, &n);
    uint32_t h = tok__hash(s, n, 0);
    for (uint32_t i = h & t->vocab.mask;; i = (i + 1) & t->vocab.mask) {
        int32_t other = t->vocab.slot[i];
        if (other < 0) {
            t->vocab.slot[i] = id;
            t->vocab.hash[i] = h;
            return;
        }
        if (t->vocab.hash[i] != h) continue;
        size_t len;
        const char *txt = tok__text_of(t, other, &len);
        if (len == n && memcmp(txt, s, n) == 0) {
            t->vocab.slot[i] = id;
            return;
        }
    }
}

/* ---------- metadata helpers ---------- */

/*
 * Reads a special id. Absent: *id keeps its default. -1 or 0xFFFFFFFF (what converters write for "no such
 * token"): *id = -1. In the vocabulary: *id = the value. Anything else (an id >= n_vocab, another negative value,
 * a non-integer type) is a broken file: with `required` (an id that changes the tokens cinder produces or when
 * it stops: BOS, EOS, EOT, EOM, UNK) the load fails with ERR_FORMAT and one line in err; otherwise (ids cinder
 * only marks, such as FIM, or does not use, such as padding) one warning line is logged and *id keeps its
 * default. llama.cpp silently keeps the default in both cases.
 */
static int tok__read_id(const gguf_t *g, const char *key, int32_t n_vocab, bool required, int32_t *id, char *err,
                        size_t err_len) {
    if (gguf_find_key(g, key) < 0) return 0;
    uint64_t u;
    int32_t i;
    char val[32];
    if (gguf_get_u64(g, key, &u) == 0) {
        if (u < (uint64_t)n_vocab) {
            *id = (int32_t)u;
            return 0;
        }
        if (u == UINT32_MAX || u == UINT64_MAX) {
            *id = -1;
            return 0;
        }
        snprintf(val, sizeof val, "%llu", (unsigned long long)u);
    } else if (gguf_get_i32(g, key, &i) == 0) { /* negative */
        if (i == -1) {
            *id = -1;
            return 0;
        }
        snprintf(val, sizeof val, "%d", i);
    } else {
        snprintf(val, sizeof val, "(not an integer)");
    }
    if (required)
        return err_set(err, err_len, ERR_FORMAT, "tokenizer: %s: %s = %s is not a token id (the vocabulary has %d)",
                       gguf_name(g), key, val, n_vocab);
    log_msg(LOG_WARN, "tokenizer: %s: %s = %s is not a token id (the vocabulary has %d); ignored", gguf_name(g),
            key, val, n_vocab);
    return 0;
}

static void tok__read_bool(const gguf_t *g, const char *key, bool *b) {
    bool v;
    if (gguf_get_bool(g, key, &v) == 0) *b = v;
}

/* Copies a string value into buf (NUL-terminated, truncated to cap - 1); false when absent or not a string. */
static bool tok__read_str(const gguf_t *g, const char *key, char *buf, size_t cap) {
    gguf_str_t s;
    if (gguf_get_str(g, key, &s) != 0) return false;
    size_t n = s.len < cap - 1 ? (size_t)s.len : cap - 1;
    memcpy(buf, s.ptr, n);
    buf[n] = '\0';
    return true;
}

static int32_t tok__find_cstr(const tok_t *t, const char *s) {
    return tok__find(t, s, strlen(s));
}

/* The first token of the NULL-terminated list that exists, or -1. */
static int32_t tok__find_any(const tok_t *t, const char *const *texts) {
    for (; *texts; texts++) {
        int32_t id = tok__find_cstr(t, *texts);
        if (id >= 0) return id;
    }
    return -1;
}

static bool tok__has_text(const tok_t *t, int32_t id, const char *s) {
    size_t n;
    const char *txt = tok__text_of(t, id, &n);
    return n == strlen(s) && memcmp(txt, s, n) == 0;
}

/* ---------- load steps ---------- */

/* Copies the token texts (an empty text becomes "[EMPTY_<id>]", as llama.cpp renames it), scores and types. */
static int tok__load_tokens(tok_t *t, const gguf_t *g, char *err, size_t err_len) {
    const gguf_arr_t *toks, *scores = NULL, *types = NULL;
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", &toks) != 0 || toks->type != GGUF_STRING || !toks->strs)
        return err_set(err, err_len, ERR_FORMAT, "tokenizer: no string array tokenizer.ggml.tokens");
    if (toks->n == 0 || toks->n >= INT32_MAX)
        return err_set(err, err_len, ERR_FORMAT, "tokenizer: %llu tokens", (unsigned long long)toks->n);
    int32_t n = (int32_t)toks->n;

    if (gguf_find_key(g, "tokenizer.ggml.scores") >= 0) {
        if (gguf_get_arr(g, "tokenizer.ggml.scores", &scores) != 0 ||
            (scores->type != GGUF_FLOAT32 && scores->type != GGUF_INT32))
            return err_set(err, err_len, ERR_FORMAT, "tokenizer: tokenizer.ggml.scores is not a f32/i32 array");
        if (scores->n < toks->n)
            return err_set(err, err_len, ERR_FORMAT, "tokenizer: %llu scores for %d tokens",
                           (unsigned long long)scores->n, n);
    }
    if (gguf_find_key(g, "tokenizer.ggml.token_type") >= 0) {
        if (gguf_get_arr(g, "tokenizer.ggml.token_type", &types) != 0 ||
            (types->type != GGUF_INT32 && types->type != GGUF_UINT32))
            return err_set(err, err_len, ERR_FORMAT, "tokenizer: tokenizer.ggml.token_type is not an i32 array");
        if (types->n < toks->n)
            return err_set(err, err_len, ERR_FORMAT, "tokenizer: %llu token types for %d tokens",
                           (unsigned long long)types->n, n);
    }

    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++) total += (toks->strs[i].len ? toks->strs[i].len : 24) + 1;
    if (total >= UINT32_MAX) return err_set(err, err_len, ERR_FORMAT, "tokenizer: token texts too large");

    t->n_vocab = n;
    t->text = malloc((size_t)total);
    t->text_off = malloc(((size_t)n + 1) * sizeof(uint32_t));
    t->score = malloc((size_t)n * sizeof(float));
    t->attr = malloc((size_t)n * sizeof(uint16_t));
    if (!t->text || !t->text_off || !t->score || !t->attr)
        return err_set(err, err_len, ERR_NOMEM, "tokenizer: out of memory");

    uint32_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        t->text_off[i] = off;
        gguf_str_t s = toks->strs[i];
        if (s.len == 0) {
            off += (uint32_t)snprintf(t->text + off, 25, "[EMPTY_%d]", i);
        } else {
            memcpy(t->text + off, s.ptr, (size_t)s.len);
            off += (uint32_t)s.len;
        }
        t->text[off++] = '\0';

        if (!scores) t->score[i] = 0.0f;
        else if (scores->type == GGUF_FLOAT32) t->score[i] = gguf_arr_f32(scores, i);
        else t->score[i] = (float)gguf_arr_i32(scores, i);

        uint16_t a = TOK__ATTR_NORMAL;
        if (types) {
            switch (gguf_arr_i32(types, i)) {
            case 1: a = TOK__ATTR_NORMAL; break;
            case 2: a = TOK__ATTR_UNKNOWN; break;
            case 3: a = TOK__ATTR_CONTROL; break;
            case 4: a = TOK__ATTR_USER_DEFINED; break;
            case 5: a = TOK__ATTR_UNUSED; break;
            case 6: a = TOK__ATTR_BYTE; break;
            default: a = 0; break; /* undefined */
            }
        }
        t->attr[i] = a;
    }
    t->text_off[n] = off;

    if (tok__table_init(&t->vocab, (size_t)n)) return err_set(err, err_len, ERR_NOMEM, "tokenizer: out of memory");
    for (int32_t i = 0; i < n; i++) tok__vocab_insert(t, i);
    return 0;
}

/* Special ids: llama.cpp's per-model defaults, dropped when outside the vocabulary, then the metadata (see
   tok__read_id for values outside the vocabulary). ERR_FORMAT with one line in err. */
static int tok__load_special_ids(tok_t *t, const gguf_t *g, bool no_bos, int32_t fim[6], char *err, size_t err_len) {
    int32_t n = t->n_vocab;
    t->sep = -1;
    if (t->kind == TOK__SPM) {
        t->bos = 1, t->eos = 2, t->unk = 0;
    } else if (t->kind == TOK__WPM) { /* BERT's [CLS], [UNK], [SEP] */
        t->bos = 101, t->eos = -1, t->unk = 100, t->sep = 102;
    } else {
        t->bos = 11, t->eos = 11, t->unk = -1;
    }
    if (no_bos) t->bos = -1;
    t->eot = t->eom = -1;
    for (int i = 0; i < 6; i++) fim[i] = -1;
    if (t->bos >= n) t->bos = -1;
    if (t->eos >= n) t->eos = -1;
    if (t->unk >= n) t->unk = -1;
    if (t->sep >= n) t->sep = -1;

    struct {
        const char *key;
        int32_t *id;
    } used[] = {
        {"tokenizer.ggml.bos_token_id", &t->bos},      {"tokenizer.ggml.eos_token_id", &t->eos},
        {"tokenizer.ggml.eot_token_id", &t->eot},      {"tokenizer.ggml.eom_token_id", &t->eom},
        {"tokenizer.ggml.unknown_token_id", &t->unk}, {"tokenizer.ggml.seperator_token_id", &t->sep},
    };
    int32_t unused = -1;
    struct {
        const char *key;
        int32_t *id;
    } marked[] = {
        {"tokenizer.ggml.fim_pre_token_id", &fim[0]}, {"tokenizer.ggml.fim_suf_token_id", &fim[1]},
        {"tokenizer.ggml.fim_mid_token_id", &fim[2]}, {"tokenizer.ggml.fim_pad_token_id", &fim[3]},
        {"tokenizer.ggml.fim_rep_token_id", &fim[4]}, {"tokenizer.ggml.fim_sep_token_id", &fim[5]},
        {"tokenizer.ggml.prefix_token_id", &fim[0]}, /* deprecated names, read last as llama.cpp */
        {"tokenizer.ggml.suffix_token_id", &fim[1]},  {"tokenizer.ggml.middle_token_id", &fim[2]},
        {"tokenizer.ggml.padding_token_id", &unused},
        {"tokenizer.ggml.cls_token_id", &unused},     {"tokenizer.ggml.mask_token_id", &unused},
    };
    for (size_t k = 0; k < sizeof used / sizeof used[0]; k++) {
        int rc = tok__read_id(g, used[k].key, n, true, used[k].id, err, err_len);
        if (rc) return rc;
    }
    for (size_t k = 0; k < sizeof marked / sizeof marked[0]; k++)
        tok__read_id(g, marked[k].key, n, false, marked[k].id, err, err_len);
    return 0;
}

/* Texts by which llama.cpp recognises special tokens the metadata did not name. */
static const char *const tok__eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
    "[EOT]", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", "<end_of_utterance>", NULL};
static const char *const tok__eom_texts[] = {"<|eom_id|>", NULL};
static const char *const tok__fim_texts[6][9] = {
    {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<PRE>",
     "\xE2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL},
    {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>", "<SUF>",
     "\xE2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL},
    {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>",
     "\xE2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL},
    {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL},
    {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL},
    {"<|file_sep|>", NULL},
};
static const char *const tok__eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", "[e~[", NULL};

/*
 * The end-of-generation set and the attribute fix-ups of llama.cpp's load, in its order: auto-detected
 * EOT/EOM/FIM tokens and every end-of-turn text become control tokens; control tokens named "*unused*" are
 * marked unused; gpt-oss's channel markers become user-defined; EOS/EOT/EOM always end generation; "<|end|>"
 * does not when the vocab also has "<|return|>"+"<|call|>" or "<|calls|>"+"<|flush|>" (it becomes user-defined);
 * "</s>" does not when "<|tool_response>" ends generation (it becomes normal).
 */
static void tok__load_eog(tok_t *t, int32_t fim[6]) {
    if (t->eot < 0) {
        t->eot = tok__find_any(t, tok__eot_texts);
        if (t->eot >= 0) t->attr[t->eot] |= TOK__ATTR_CONTROL;
    }
    if (t->eom < 0) {
        t->eom = tok__find_any(t, tok__eom_texts);
        if (t->eom >= 0) t->attr[t->eom] |= TOK__ATTR_CONTROL;
    }
    for (int k = 0; k < 6; k++) {
        if (fim[k] >= 0) continue;
        fim[k] = tok__find_any(t, tok__fim_texts[k]);
        if (fim[k] >= 0) t->attr[fim[k]] |= TOK__ATTR_CONTROL;
    }
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if ((t->attr[i] & TOK__ATTR_CONTROL) && strstr(t->text + t->text_off[i], "unused"))
            t->attr[i] |= TOK__ATTR_UNUSED;
    }
    for (int k = 3; k < 6; k++) /* fim pad, rep, sep */
        if (fim[k] >= 0) t->attr[fim[k]] |= TOK__ATTR_EOG;
    for (const char *const *s = tok__eog_texts; *s; s++) {
        int32_t id = tok__find_cstr(t, *s);
        if (id >= 0) t->attr[id] |= TOK__ATTR_EOG | TOK__ATTR_CONTROL;
    }
    static const char *const gpt_oss[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};
    for (const char *const *s = gpt_oss; *s; s++) {
        int32_t id = tok__find_cstr(t, *s);
        if (id >= 0) t->attr[id] = (uint16_t)((t->attr[id] & TOK__ATTR_EOG) | TOK__ATTR_USER_DEFINED);
    }
    if (t->eos >= 0) t->attr[t->eos] |= TOK__ATTR_EOG;
    if (t->eot >= 0) t->attr[t->eot] |= TOK__ATTR_EOG;
    if (t->eom >= 0) t->attr[t->eom] |= TOK__ATTR_EOG;

    bool has_return = false, has_call = false, has_flush = false, has_tool_response = false;
    int32_t end_id = -1, s_id = -1;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (!(t->attr[i] & TOK__ATTR_EOG)) continue;
        if (tok__has_text(t, i, "<|return|>")) has_return = true;
        else if (tok__has_text(t, i, "<|call|>") || tok__has_text(t, i, "<|calls|>")) has_call = true;
        else if (tok__has_text(t, i, "<|flush|>")) has_flush = true;
        else if (tok__has_text(t, i, "<|end|>")) end_id = i;
        else if (tok__has_text(t, i, "<|tool_response>")) has_tool_response = true;
        else if (tok__has_text(t, i, "</s>")) s_id = i;
    }
    if (end_id >= 0 && has_call && (has_return || has_flush)) t->attr[end_id] = TOK__ATTR_USER_DEFINED;
    if (s_id >= 0 && has_tool_response) t->attr[s_id] = TOK__ATTR_NORMAL;
}

/* True when s contains needle, comparing ASCII case-insensitively (llama.cpp lower-cases general.name). */
static bool tok__contains_ci(const char *s, const char *needle) {
    size_t n = strlen(needle);
    for (; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && tolower((unsigned char)s[i]) == needle[i]) i++;
        if (i == n) return true;
    }
    return false;
}

static void tok__set_attr(tok_t *t, const char *text, uint16_t bit, bool on) {
    int32_t id = tok__find_cstr(t, text);
    if (id < 0) return;
    t->attr[id] = on ? (uint16_t)(t->attr[id] | bit) : (uint16_t)(t->attr[id] & ~bit);
}

static int tok__cmp_special(const void *a, const void *b, void *ctx) {
    const tok_t *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = t->text_off[x + 1] - t->text_off[x], ly = t->text_off[y + 1] - t->text_off[y];
    if (lx != ly) return lx > ly ? -1 : 1;
    return x < y ? -1 : (x > y);
}

/* The special-token list (longest first), the per-model strip attributes, and the trie over their texts. */
static int tok__load_specials(tok_t *t, const gguf_t *g) {
    int32_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->attr[i] & TOK__ATTR_SPECIAL) n++;
    t->special = malloc(((size_t)n + 1) * sizeof(int32_t));
    if (!t->special) return ERR_NOMEM;
    t->n_special = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->attr[i] & TOK__ATTR_SPECIAL) t->special[t->n_special++] = i;
    qsort_r(t->special, (size_t)n, sizeof(int32_t), tok__cmp_special, t);

    /* Attributes llama.cpp sets by model name: Phi-3 strips whitespace after its special tokens; some embedding
       models strip it before their mask token. */
    char name[256] = "", pre[128] = "", arch[128] = "";
    tok__read_str(g, "general.name", name, sizeof name);
    tok__read_str(g, "tokenizer.ggml.pre", pre, sizeof pre);
    tok__read_str(g, "general.architecture", arch, sizeof arch);
    if (strstr(pre, "jina-v2-de") || strstr(pre, "jina-v2-es") || strstr(pre, "jina-v2-code") ||
        strstr(arch, "nomic-bert-moe") || strstr(arch, "jina-bert-v3")) {
        tok__set_attr(t, "<mask>", TOK__ATTR_LSTRIP, true);
    } else if (tok__contains_ci(name, "phi-3") || tok__contains_ci(name, "phi3")) {
        for (int32_t k = 0; k < t->n_special; k++) t->attr[t->special[k]] |= TOK__ATTR_RSTRIP;
        tok__set_attr(t, "</s>", TOK__ATTR_RSTRIP, true);
        tok__set_attr(t, "<unk>", TOK__ATTR_RSTRIP, false);
        tok__set_attr(t, "<s>", TOK__ATTR_RSTRIP, false);
        tok__set_attr(t, "<|endoftext|>", TOK__ATTR_RSTRIP, false);
    } else if (tok__contains_ci(name, "modern-bert")) {
        tok__set_attr(t, "[MASK]", TOK__ATTR_LSTRIP, true);
    }

    /* Trie: at most one node per byte of special text. */
    uint64_t bytes = 0;
    for (int32_t k = 0; k < t->n_special; k++) bytes += t->text_off[t->special[k] + 1] - t->text_off[t->special[k]];
    if (bytes >= INT32_MAX) return ERR_NOMEM;
    t->trie = malloc(((size_t)bytes + 1) * sizeof(tok__trie_t));
    if (!t->trie) return ERR_NOMEM;
    for (int b = 0; b < 256; b++) t->trie_root[b] = -1;
    t->n_trie = 0;
    for (int32_t k = 0; k < t->n_special; k++) {
        size_t len;
        const unsigned char *s = (const unsigned char *)tok__text_of(t, t->special[k], &len);
        int32_t *link = &t->trie_root[s[0]];
        int32_t node = -1;
        for (size_t j = 0; j < len; j++) {
            if (j > 0) link = &t->trie[node].child;
            /* find s[j] among the siblings starting at *link */
            int32_t c = *link;
            while (c >= 0 && t->trie[c].byte != s[j]) c = t->trie[c].sibling;
            if (c < 0) {
                c = t->n_trie++;
                t->trie[c].child = -1;
                t->trie[c].special = -1;
                t->trie[c].byte = s[j];
                t->trie[c].sibling = j == 0 ? -1 : *link; /* root slots hold one node each */
                *link = c;
            }
            node = c;
        }
        if (node >= 0 && t->trie[node].special < 0) t->trie[node].special = k;
    }
    return 0;
}

/* SPM byte fallback: the <0xXX> token of each byte, else the token whose text is that one byte. */
static void tok__load_byte_tokens(tok_t *t) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char buf[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
        int32_t id = tok__find(t, buf, 6);
        if (id < 0) {
            char one = (char)b;
            id = tok__find(t, &one, 1);
        }
        t->byte_tok[b] = id;
    }
}

int tok_load(const gguf_t *g, tok_t **out, char *err, size_t err_len) {
    if (!g || !out) return err_set(err, err_len, ERR_INVAL, "tokenizer: NULL argument");
    *out = NULL;
    int rc;
    char model[64];
    if (!tok__read_str(g, "tokenizer.ggml.model", model, sizeof model))
        return err_set(err, err_len, ERR_FORMAT, "tokenizer: no tokenizer.ggml.model in %s", gguf_name(g));

    tok_t *t = calloc(1, sizeof *t);
    if (!t) return err_set(err, err_len, ERR_NOMEM, "tokenizer: out of memory");
    if (strcmp(model, "llama") == 0) {
        t->kind = TOK__SPM;
    } else if (strcmp(model, "gpt2") == 0) {
        t->kind = TOK__BPE;
    } else if (strcmp(model, "bert") == 0) {
        t->kind = TOK__WPM;
    } else {
        rc = err_set(err, err_len, ERR_UNSUPPORTED,
                     "tokenizer: model '%s' is not supported (only llama, gpt2 and bert)", model);
        goto cleanup;
    }

    rc = tok__load_tokens(t, g, err, err_len);
    if (rc) goto cleanup;

    bool no_bos = false;
    if (t->kind == TOK__BPE) {
        const gguf_arr_t *merges;
        if (gguf_get_arr(g, "tokenizer.ggml.merges", &merges) != 0 || merges->type != GGUF_STRING) {
            rc = err_set(err, err_len, ERR_FORMAT, "tokenizer: no string array tokenizer.ggml.merges");
            goto cleanup;
        }
        rc = tok__bpe_load_merges(t, merges, err, err_len);
        if (rc) goto cleanup;

        char pre[64];
        bool have_pre = tok__read_str(g, "tokenizer.ggml.pre", pre, sizeof pre);
        rc = tok__pretok_create(have_pre ? pre : NULL, &t->pre, &t->pre_fallback, &t->ignore_merges, &t->add_bos,
                                &no_bos, &t->nfc, err, err_len);
        if (rc) goto cleanup;
        snprintf(t->pre_name, sizeof t->pre_name, "%s", have_pre && !t->pre_fallback ? pre : "default");
        t->add_space_prefix = false;
    } else if (t->kind == TOK__WPM) { /* [CLS] text [SEP]; see tok_wpm.c for the normaliser's defaults */
        snprintf(t->pre_name, sizeof t->pre_name, "default");
        t->add_space_prefix = false;
        t->add_bos = true;
        t->add_sep = true;
        t->wpm_lowercase = true;
        tok__read_bool(g, "tokenizer.ggml.normalizer.lowercase", &t->wpm_lowercase);
        t->wpm_strip_accents = t->wpm_lowercase;
        tok__read_bool(g, "tokenizer.ggml.normalizer.strip_accents", &t->wpm_strip_accents);
        for (int32_t i = 0; i < t->n_vocab; i++) {
            size_t n = t->text_off[i + 1] - t->text_off[i] - 1;
            if (n > t->wpm_max_len) t->wpm_max_len = n;
        }
    } else {
        snprintf(t->pre_name, sizeof t->pre_name, "default");
        t->add_space_prefix = true;
        t->add_bos = true;
    }
    t->add_eos = false;
    tok__read_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);

    int32_t fim[6];
    rc = tok__load_special_ids(t, g, no_bos, fim, err, err_len);
    if (rc) goto cleanup;
    tok__read_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos);
    tok__read_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos);
    tok__read_bool(g, "tokenizer.ggml.add_sep_token", &t->add_sep);
    tok__load_eog(t, fim);

    if (tok__load_specials(t, g)) {
        rc = err_set(err, err_len, ERR_NOMEM, "tokenizer: out of memory");
        goto cleanup;
    }
    tok__load_byte_tokens(t);
    rc = tok__build_pieces(t, err, err_len);
    if (rc) goto cleanup;

    *out = t;
    return 0;

cleanup:
    tok_free(t);
    return rc;
}

void tok_free(tok_t *t) {
    if (!t) return;
    free(t->text);
    free(t->text_off);
    free(t->piece);
    free(t->piece_off);
    free(t->score);
    free(t->attr);
    tok__table_free(&t->vocab);
    free(t->merge_text);
    free(t->merge_off);
    free(t->merge_llen);
    tok__table_free(&t->merges);
    free(t->special);
    free(t->trie);
    tok__pretok_free(t->pre);
    free(t);
}

/* ---------- accessors ---------- */

int32_t tok_n_vocab(const tok_t *t) { return t ? t->n_vocab : 0; }
int32_t tok_bos(const tok_t *t) { return t ? t->bos : -1; }
int32_t tok_eos(const tok_t *t) { return t ? t->eos : -1; }
bool tok_add_bos(const tok_t *t) { return t && t->add_bos && t->bos >= 0; }
bool tok_add_eos(const tok_t *t) { return t && t->add_eos && t->eos >= 0; }
bool tok_add_sep(const tok_t *t) { return t && t->add_sep && t->sep >= 0; }

bool tok_is_eog(const tok_t *t, int32_t id) {
    return t && id >= 0 && id < t->n_vocab && (t->attr[id] & TOK__ATTR_EOG);
}

bool tok_is_control(const tok_t *t, int32_t id) {
    return t && id >= 0 && id < t->n_vocab && (t->attr[id] & TOK__ATTR_CONTROL);
}

const char *tok_model_name(const tok_t *t) {
    if (!t) return "";
    return t->kind == TOK__SPM ? "llama" : t->kind == TOK__WPM ? "bert" : "gpt2";
}

const char *tok_pre_name(const tok_t *t) { return t ? t->pre_name : ""; }
bool tok_pre_is_fallback(const tok_t *t) { return t && t->pre_fallback; }

const char *tok_text(const tok_t *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_vocab) return NULL;
    return t->text + t->text_off[id];
}

/* ---------- encoding ---------- */

/* A run of the input: plain text (id < 0) or one special token. */
typedef struct {
    int32_t id;
    size_t off, len;
} tok__frag_t;

typedef struct {
    tok__frag_t *v;
    size_t n, cap;
} tok__frags_t;

static int tok__frags_push(tok__frags_t *f, int32_t id, size_t off, size_t len) {
    if (f->n == f->cap && tok__grow((void **)&f->v, &f->cap, f->n + 1, sizeof(tok__frag_t))) return ERR_NOMEM;
    f->v[f->n].id = id;
    f->v[f->n].off = off;
    f->v[f->n].len = len;
    f->n++;
    return 0;
}

/* isspace() in the C locale, as llama.cpp's strip rules use it. */
static bool tok__is_ascii_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Marks in present[] the special tokens whose text occurs somewhere in text. */
static void tok__find_present(const tok_t *t, const unsigned char *text, size_t len, unsigned char *present) {
    for (size_t i = 0; i < len; i++) {
        int32_t node = t->trie_root[text[i]];
        size_t j = i;
        while (node >= 0) {
            if (t->trie[node].special >= 0) present[t->trie[node].special] = 1;
            if (++j >= len) break;
            int32_t c = t->trie[node].child;
            while (c >= 0 && t->trie[c].byte != text[j]) c = t->trie[c].sibling;
            node = c;
        }
    }
}

/*
 * Cuts the input into plain-text runs and special tokens (llama.cpp's tokenizer_st_partition). Without
 * parse_special, control and unknown tokens are not looked for; user-defined tokens always are.
 */
static int tok__partition(const tok_t *t, const char *text, size_t len, bool parse_special, tok__frags_t *frags) {
    int rc = 0;
    unsigned char *present = NULL;
    tok__frags_t next = {0};
    if (len > 0 && (rc = tok__frags_push(frags, -1, 0, len))) return rc;
    if (len == 0 || t->n_special == 0) return 0;

    present = calloc((size_t)t->n_special, 1);
    if (!present) return ERR_NOMEM;
    tok__find_present(t, (const unsigned char *)text, len, present);

    for (int32_t k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        uint16_t attr = t->attr[id];
        if (!present[k]) continue;
        if (!parse_special && (attr & (TOK__ATTR_CONTROL | TOK__ATTR_UNKNOWN))) continue;
        size_t slen;
        const char *stext = tok__text_of(t, id, &slen);

        next.n = 0;
        for (size_t f = 0; f < frags->n; f++) {
            tok__frag_t fr = frags->v[f];
            if (fr.id >= 0) {
                if ((rc = tok__frags_push(&next, fr.id, fr.off, fr.len))) goto cleanup;
                continue;
            }
            size_t pos = fr.off, end = fr.off + fr.len;
            while (pos < end) {
                const char *m = memmem(text + pos, end - pos, stext, slen);
                if (!m) break;
                size_t mpos = (size_t)(m - text);
                size_t left = mpos - pos;
                if (attr & TOK__ATTR_LSTRIP)
                    while (left > 0 && tok__is_ascii_space((unsigned char)text[pos + left - 1])) left--;
                if (left > 0 && (rc = tok__frags_push(&next, -1, pos, left))) goto cleanup;
                if ((rc = tok__frags_push(&next, id, mpos, slen))) goto cleanup;
                pos = mpos + slen;
                if (attr & TOK__ATTR_RSTRIP)
                    while (pos < end && tok__is_ascii_space((unsigned char)text[pos])) pos++;
            }
            if (pos < end && (rc = tok__frags_push(&next, -1, pos, end - pos))) goto cleanup;
        }
        tok__frags_t tmp = *frags;
        *frags = next;
        next = tmp;
    }

cleanup:
    free(present);
    free(next.v);
    return rc;
}

int tok_encode(const tok_t *t, const char *text, size_t len, unsigned flags, int32_t *ids, size_t cap,
               size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!t || !n_out || (!text && len > 0) || (!ids && cap > 0)) return ERR_INVAL;
    if (len > TOK_MAX_INPUT_BYTES) return ERR_LIMIT;

    tok__frags_t frags = {0};
    tok__ids_t out = {0};
    bool add_special = (flags & TOK_ADD_SPECIAL) != 0;
    int rc = tok__partition(t, text, len, (flags & TOK_PARSE_SPECIAL) != 0, &frags);
    if (rc) goto cleanup;

    if (add_special && t->add_bos && t->bos >= 0 && (rc = tok__ids_push(&out, t->bos))) goto cleanup;
    bool prev_special = true; /* SPM: a space is prefixed to the first run and to every run after a token */
    for (size_t f = 0; f < frags.n; f++) {
        const tok__frag_t *fr = &frags.v[f];
        if (fr->id >= 0) {
            rc = tok__ids_push(&out, fr->id);
            prev_special = true;
        } else if (t->kind == TOK__SPM) {
            rc = tok__spm_encode(t, text + fr->off, fr->len, t->add_space_prefix && prev_special, &out);
            prev_special = false;
        } else if (t->kind == TOK__WPM) {
            rc = tok__wpm_encode(t, text + fr->off, fr->len, &out);
        } else {
            rc = tok__bpe_encode(t, text + fr->off, fr->len, &out);
        }
        if (rc) goto cleanup;
    }
    if (add_special && t->add_eos && t->eos >= 0 && (rc = tok__ids_push(&out, t->eos))) goto cleanup;
    if (add_special && t->add_sep && t->sep >= 0 && (rc = tok__ids_push(&out, t->sep))) goto cleanup;

    size_t n_copy = out.n < cap ? out.n : cap;
    if (n_copy) memcpy(ids, out.v, n_copy * sizeof(int32_t));
    *n_out = out.n;
    rc = out.n > cap ? ERR_RANGE : 0;

cleanup:
    free(frags.v);
    free(out.v);
    return rc;
}
