/*
 * tokenizer.h — text <-> token ids for the vocabularies GGUF files carry, matching the model's own Hugging Face
 * tokenizer token for token (and llama.cpp, except where llama.cpp departs from Hugging Face: Qwen's NFC
 * normalisation and gpt-oss's o200k pre-tokenizer, which keeps combining marks in words; see tok_nfc.c and
 * tok_pretok.c).
 *
 * Owns: a private copy of everything tokenization needs from a GGUF's `tokenizer.ggml.*` metadata (token texts,
 * scores, types, BPE merges, special ids, flags), the hash tables built over it (text -> id, merge pair -> rank),
 * the compiled pre-tokenizer regexes (PCRE2, UTF + UCP, JIT when available) and a cache of every token's bytes.
 * After tok_load returns, the gguf_t may be closed.
 * Does not: apply chat templates (api/template/), decide when generation stops (the caller asks tok_is_eog), or
 * implement Unigram (t5), RWKV or other tokenizer models: they are refused with ERR_UNSUPPORTED.
 *
 * Models (`tokenizer.ggml.model`):
 *   "llama" — SentencePiece-style BPE over scores (SPM): spaces become U+2581 '▁', a space is prefixed to every
 *             text run that starts the input or follows a special token (`tokenizer.ggml.add_space_prefix`,
 *             default true), pieces merge by highest score, characters no token covers fall back to <0xXX> byte
 *             tokens (or the unknown token when the vocab has no byte tokens).
 *   "gpt2"  — byte-level BPE: the text is split into words by the pre-tokenizer regexes that `tokenizer.ggml.pre`
 *             names (llama.cpp's table: "llama-bpe", "qwen2", "smollm", "deepseek-llm", ...), each word's bytes are
 *             mapped to GPT-2's printable byte alphabet, and merges apply by rank. A missing or unknown `pre`
 *             name uses llama.cpp's "default" regexes; tok_pre_name then says "default" and tok_pre_is_fallback
 *             is true. (llama.cpp itself refuses an unknown name; we keep going, as it does for a missing one.)
 *             For the Qwen names ("qwen2", "deepseek-r1-qwen", "qwen35") each text run is first put in Unicode
 *             NFC, as Qwen's tokenizer.json normalizer does.
 *   "bert"  — WordPiece (tok_wpm.c): BERT's normaliser (lowercasing and accent stripping as
 *             `tokenizer.ggml.normalizer.*` say), words split at white space and punctuation, each matched longest
 *             piece first; TOK_ADD_SPECIAL puts [CLS] (the BOS id, default 101) before and [SEP]
 *             (`seperator_token_id`, default 102) after, as `add_bos_token` / `add_sep_token` (default true) say.
 *
 * Special tokens: token types come from `tokenizer.ggml.token_type` (1 normal, 2 unknown, 3 control,
 * 4 user-defined, 5 unused, 6 byte). Before the model runs, the input is cut at special-token texts, longest token
 * first, as llama.cpp's partitioning does: user-defined tokens always, control and unknown tokens only with
 * TOK_PARSE_SPECIAL (otherwise their text is tokenized as plain text). As in llama.cpp, tokens whose text marks an
 * end of turn ("<|eot_id|>", "<|im_end|>", "</s>", "<|endoftext|>", ...) count as control tokens and as
 * end-of-generation tokens, whatever their stored type.
 *
 * Invalid UTF-8 input never fails and never crashes; the ids are llama.cpp's. SPM: the bytes are tokenized as they
 * are (one symbol per character as its lead byte announces it); bytes no token covers become <0xXX> byte tokens
 * (or, in a vocab without byte tokens, the unknown token once per character, where llama.cpp would throw).
 * Valid UTF-8 therefore decodes back to the same bytes; with invalid input, a bad lead byte can swallow part of
 * an escaped space, which then decodes as the bytes of '▁'. BPE: as llama.cpp, every byte that does not start
 * a complete sequence (and every code point above U+10FFFF) is replaced by U+FFFD before pre-tokenization;
 * overlong forms are re-encoded in their shortest form; decoding gives that cleaned-up text.
 *
 * Threads: a loaded tok_t is immutable; any number of threads may call tok_encode, tok_piece and the accessors
 * concurrently (each call allocates its own scratch, PCRE2 match data included). A tok_stream_t belongs to one
 * stream and is used by one thread at a time.
 *
 * Return codes (common/err.h): 0, ERR_INVAL (NULL arguments), ERR_FORMAT (malformed tokenizer metadata),
 * ERR_UNSUPPORTED (tokenizer model), ERR_NOMEM, ERR_RANGE (buffer too small, id out of range), ERR_LIMIT (input
 * too long or a regex hit PCRE2's match limits).
 */
#ifndef CINDER_TOKENIZER_H
#define CINDER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef struct tok tok_t;

#define TOK_ADD_SPECIAL 1u   /* add BOS (and EOS) as the model's metadata says */
#define TOK_PARSE_SPECIAL 2u /* recognise control/special token texts in the input */

#define TOK_MAX_INPUT_BYTES ((size_t)256 << 20) /* tok_encode refuses longer inputs with ERR_LIMIT */

/*
 * Builds a tokenizer from g's `tokenizer.ggml.*` metadata. Everything needed is copied: g may be closed as soon as
 * this returns. On success *out owns the tokenizer (free with tok_free). On failure returns ERR_FORMAT (missing or
 * malformed keys: no token list, scores or types shorter than the token list, no merges for "gpt2"),
 * ERR_UNSUPPORTED (a tokenizer model other than "llama", "gpt2" and "bert") or ERR_NOMEM, with one line in err.
 * Special ids: a `bos_token_id`, `eos_token_id`, `eot_token_id`, `eom_token_id` or `unknown_token_id` outside
 * the vocabulary is ERR_FORMAT (a line naming the key and value); -1 and 0xFFFFFFFF mean "none". Other special
 * ids outside it (FIM, padding, separator, cls, mask) are ignored with one warning line (log.h). (llama.cpp keeps
 * its default silently in both cases.) The defaults are llama.cpp's (SPM: BOS 1, EOS 2, UNK 0; BPE: BOS = EOS =
 * 11), each dropped when outside the vocabulary. `add_bos_token` defaults to true for SPM and for
 * the Llama-3-style BPE pre-tokenizers, false otherwise; `add_eos_token` defaults to false.
 */
int tok_load(const gguf_t *g, tok_t **out, char *err, size_t err_len);

/* Frees the tokenizer. tok_free(NULL) is a no-op. */
void tok_free(tok_t *t);

/* Number of tokens in the vocabulary (ids are 0 .. n-1). */
int32_t tok_n_vocab(const tok_t *t);

/* The BOS / EOS token ids, or -1 when the model has none. */
int32_t tok_bos(const tok_t *t);
int32_t tok_eos(const tok_t *t);

/* True when id ends generation: EOS, EOT, EOM, and the end-of-turn tokens llama.cpp recognises by text.
   False for ids out of range. */
bool tok_is_eog(const tok_t *t, int32_t id);

/* True when id is a control token (type 3, or promoted to control as described above). False out of range. */
bool tok_is_control(const tok_t *t, int32_t id);

/* "llama" (SPM), "gpt2" (byte-level BPE) or "bert" (WordPiece). Static storage. */
const char *tok_model_name(const tok_t *t);

/* The pre-tokenizer in use: the GGUF's `tokenizer.ggml.pre` when it is known (e.g. "llama-bpe", "qwen2"),
   "default" when it is missing or unknown, and "default" for SPM, which has none. Owned by t. */
const char *tok_pre_name(const tok_t *t);

/* True when `tokenizer.ggml.pre` named a pre-tokenizer this module does not know and "default" is used instead. */
bool tok_pre_is_fallback(const tok_t *t);

/* Whether TOK_ADD_SPECIAL adds a BOS / an EOS / a separator (WordPiece's [SEP], after any EOS) for this model. */
bool tok_add_bos(const tok_t *t);
bool tok_add_eos(const tok_t *t);
bool tok_add_sep(const tok_t *t);

/*
 * Encodes len bytes of text (any bytes; NUL is an ordinary byte). Writes up to cap ids to ids (which may be NULL
 * when cap is 0) and sets *n_out to the total count. Returns 0, or ERR_RANGE with *n_out = the needed count when
 * cap is too small (the first cap ids are written), so callers can retry with a larger buffer. Other errors:
 * ERR_INVAL, ERR_NOMEM, ERR_LIMIT (len > TOK_MAX_INPUT_BYTES, or a PCRE2 match limit); *n_out is 0 then.
 * Cost: linear-ish in len (heaps of bigrams per word / per text run).
 */
int tok_encode(const tok_t *t, const char *text, size_t len, unsigned flags, int32_t *ids, size_t cap,
               size_t *n_out);

/* The vocab string of a token (NUL-terminated, as stored in the GGUF; an empty stored text reads
   "[EMPTY_<id>]" as in llama.cpp), or NULL when id is out of range. Owned by t. */
const char *tok_text(const tok_t *t, int32_t id);

/*
 * The bytes a token stands for: SPM '▁' -> ' ' and <0xXX> -> that byte; BPE byte-level decoded; user-defined
 * tokens as their text. Control and unknown tokens give 0 bytes unless render_special (then their text); unused
 * and undefined tokens give 0 bytes. A piece can be any bytes, including an incomplete UTF-8 sequence. Writes up
 * to cap bytes to buf (no NUL is added), sets *n_out to the full length; ERR_RANGE if it did not fit (buf then
 * holds the first cap bytes) and ERR_RANGE with *n_out = 0 for an id out of range.
 */
int tok_piece(const tok_t *t, int32_t id, bool render_special, char *buf, size_t cap, size_t *n_out);

/* The longest piece of any token with render_special (bytes). */
size_t tok_max_piece_len(const tok_t *t);

/*
 * Decodes ids as the concatenation of their pieces (render_special as for tok_piece). With skip_space_prefix and
 * a model whose add_space_prefix is set (SPM by default), one leading space is removed from the first piece (the
 * one encoding prefixed), as llama.cpp's detokenizer does. Spaces are not otherwise cleaned up (llama.cpp's
 * llama_detokenize applies clean_up_tokenization_spaces for some BPE models; its server's output, made of pieces,
 * does not). The result is raw bytes, not validated as UTF-8. Writes up to cap bytes, sets *n_out to the full
 * length, ERR_RANGE if it did not fit or an id is out of range.
 */
int tok_decode(const tok_t *t, const int32_t *ids, size_t n_ids, bool render_special, bool skip_space_prefix,
               char *buf, size_t cap, size_t *n_out);

/*
 * Streaming detokenizer: feed token ids, get only complete UTF-8. Embeddable, no allocation. Incomplete trailing
 * sequences are held back (at most 3 bytes) until the bytes that complete them arrive. Invalid sequences (bytes
 * that cannot start or continue a well-formed sequence, overlongs, surrogates, > U+10FFFF) are replaced by U+FFFD,
 * one per maximal ill-formed subpart (Unicode's recommended practice), so the output is always valid UTF-8.
 */
typedef struct {
    unsigned char pending[8]; /* an incomplete, so far well-formed UTF-8 sequence (n_pending <= 3 bytes) */
    size_t n_pending;
} tok_stream_t;

/* The output capacity that tok_stream_push / tok_stream_push_bytes with a token piece never exceed:
   3 * (tok_max_piece_len + 3) bytes (every byte could become a 3-byte U+FFFD). */
size_t tok_stream_cap(const tok_t *t);

void tok_stream_init(tok_stream_t *s);

/*
 * Appends token id's bytes (tok_piece without render_special); writes the bytes that now form complete UTF-8
 * sequences into out and sets *n_out. Holds back an incomplete tail. cap >= 64 + the longest token piece is
 * enough unless pieces hold invalid UTF-8 (each invalid byte becomes 3 bytes); tok_stream_cap is always enough.
 * Returns ERR_RANGE with *n_out = the needed size when cap is too small, and then changes nothing (retry with a
 * larger buffer); ERR_RANGE with *n_out = 0 for an id out of range.
 */
int tok_stream_push(tok_stream_t *s, const tok_t *t, int32_t id, char *out, size_t cap, size_t *n_out);

/* As tok_stream_push, for raw bytes (e.g. a special token's text the caller chose to render). Output is at most
   3 * (n + 3) bytes. */
int tok_stream_push_bytes(tok_stream_t *s, const void *bytes, size_t n, char *out, size_t cap, size_t *n_out);

/* At the end of a stream: emits whatever is held back (an incomplete tail becomes one U+FFFD, 3 bytes) and
   resets s. ERR_RANGE (changing nothing, *n_out = needed) if cap is too small. */
int tok_stream_flush(tok_stream_t *s, char *out, size_t cap, size_t *n_out);

#endif
