/*
 * tok_pretok.c — the BPE pre-tokenizers: llama.cpp's table of `tokenizer.ggml.pre` names, their regexes, and
 * the splitting of a text into words with PCRE2.
 *
 * Owns: the compiled regexes of one tokenizer (pcre2_code, JIT-compiled when the library supports it).
 * Does not: merge (tok_bpe.c) or handle special tokens (tokenizer.c).
 *
 * The regexes are the ones llama.cpp uses (its llm_tokenizer_bpe table): the Hugging Face tokenizer.json
 * patterns, with `(?i:'s|...)` spelled out as `'[sS]|...` (so that only ASCII letters fold, as in llama.cpp).
 * llama.cpp runs some of them through hand-written splitters (GPT-2, Llama 3, Qwen2) and the rest through
 * std::regex over a text whose non-ASCII characters are collapsed to one stand-in per Unicode category; both
 * give the regex's own semantics with Unicode general categories, which PCRE2 in UTF + UCP mode provides,
 * once a few details are made explicit (see pretok_rewrite_into):
 *   - `\s` is Unicode's White_Space set exactly (what llama.cpp uses); PCRE2's \s also has U+180E, so every
 *     \s / \S is rewritten into an explicit class before compiling;
 *   - in the collapsed text \p{Lu}, \p{Ll}, \p{Lt}, \p{Lm}, \p{Lo} all stand for \p{L};
 *   - std::wregex sees non-ASCII white space as U+000B, so literal non-ASCII classes never match it;
 *   - `$` matches only at the very end (PCRE2_DOLLAR_ENDONLY), as in std::regex;
 *   - each regex splits each piece the previous one produced, and sees only that piece (lookarounds stop at
 *     its ends), keeping matches and the gaps between them, in order.
 * With these, every regex set below gave llama.cpp's unicode_regex_split output on many thousands of random
 * strings. What remains different: PCRE2's Unicode tables (Unicode 14 in Debian 12's PCRE2 10.42) versus
 * llama.cpp's newer generated ones, for characters assigned after Unicode 14.
 * One exception, where llama.cpp departs from the model's own tokenizer: "gpt-4o" (gpt-oss) runs o200k's
 * tokenizer.json pattern as written, with real Unicode categories (PRE_HF_CATEGORIES): llama.cpp's version
 * drops \p{M} from the letter classes and tells case apart by [^a-z] / [^A-Z], which splits Devanagari, Khmer
 * and other scripts at every combining mark and gives ids that Hugging Face's tokenizer does not.
 * Not here (unknown names fall back to "default"): llama.cpp's hand-written splitters without a regex form
 * (kimi-k2, afmoe, tiny_aya, superbpe) and the SPM-style BPE pre-tokenizers (gemma4, sarvam-moe).
 *
 * Threads: a compiled tok__pretok_t is read-only; tok__pretok_split allocates its match data per call.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tok_internal.h"

#define PRETOK_MAX_REGEX 8

/* ---------- the regex sets (llama.cpp's llm_tokenizer_bpe) ---------- */

/* clang-format off */
static const char *const re_default[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|]+",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    "\\p{N}+",
    "[0-9][0-9][0-9]",
    NULL};
static const char *const re_llama3[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_jais2[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
    NULL};
static const char *const re_deepseek_llm[] = {
    "[\r\n]",
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
    NULL};
static const char *const re_deepseek3[] = {
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_spark2_5[] = {
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
    "\\p{N}",
    NULL};
static const char *const re_youtu[] = {
    "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_deepseek_coder[] = {
    "[\r\n]",
    "\\s?\\p{L}+",
    "\\s?\\p{P}+",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}",
    NULL};
static const char *const re_falcon[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|`]+",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    "[0-9][0-9][0-9]",
    NULL};
static const char *const re_starcoder[] = {
    "\\p{N}",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    NULL};
static const char *const re_gpt2[] = {
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    NULL};
static const char *const re_qwen2[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_qwen35[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_poro[] = {
    " ?[^(\\s|.,!?…。，、।۔،)]+",
    NULL};
static const char *const re_viking[] = {
    " ?[^(\\s|.,!?…。，、।۔،)]+",
    "\\p{N}",
    NULL};
static const char *const re_tekken[] = {
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_chameleon[] = {
    "<sentinel:[0-9]+>",
    "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
    "([\\t\\n]|    |  )",
    "\\p{N}",
    "[\\p{P}!-/:-@\\[-`{-~]",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    NULL};
static const char *const re_gpt4o[] = {
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
/* gpt-oss (o200k): the Hugging Face tokenizer.json pattern itself, run with Unicode's categories
   (PRE_HF_CATEGORIES): combining marks belong to words, and upper/lower case are told apart beyond ASCII. */
static const char *const re_gpt4o_hf[] = {
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_granite_emb[] = {
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_bailingmoe[] = {
    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_seed_coder[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_ufakzeka[] = {
    "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_laguna[] = {
    "[^\\n]+|[\\n]+",
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_exaone_moe[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_minicpm5[] = {
    "\\p{N}{1,3}",
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
/* clang-format on */

enum {
    PRE_IGNORE_MERGES = 1, /* a word that is a whole token is not merged */
    PRE_ADD_BOS = 2,       /* add_bos_token defaults to true */
    PRE_NO_BOS = 4,        /* no default BOS id */
    PRE_NFC = 8,           /* the Hugging Face tokenizer normalises to NFC first (llama.cpp does not) */
    PRE_HF_CATEGORIES = 16, /* \p{Lu}, \p{Ll}, ... keep their meaning (llama.cpp folds them into \p{L}) */
};

typedef struct {
    const char *name;
    const char *const *regex;
    unsigned flags;
} pretok_name_t;

/* `tokenizer.ggml.pre` names, as llama.cpp's llama_vocab::impl::load maps them. */
static const pretok_name_t pretok_names[] = {
    {"default", re_default, 0},
    {"llama3", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
    {"llama-v3", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
    {"llama-bpe", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
    {"falcon3", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
    {"falcon-h1", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
    {"pixtral", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
    {"midm-2.0", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
    {"lfm2", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
    {"jina-v5-nano", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS},
    {"dbrx", re_llama3, 0},
    {"smaug-bpe", re_llama3, 0},
    {"glm4", re_llama3, PRE_NO_BOS},
    {"chatglm-bpe", re_llama3, PRE_NO_BOS},
    {"jais-2", re_jais2, 0},
    {"deepseek-llm", re_deepseek_llm, 0},
    {"deepseek-coder", re_deepseek_coder, 0},
    {"deepseek-v3", re_deepseek3, 0},
    {"hunyuan-dense", re_deepseek3, 0},
    {"hy_v4", re_deepseek3, 0},
    {"joyai-llm", re_deepseek3, 0},
    {"spark2_5", re_spark2_5, 0},
    {"youtu", re_youtu, PRE_IGNORE_MERGES},
    {"falcon", re_falcon, 0},
    {"starcoder", re_starcoder, 0},
    {"refact", re_starcoder, 0},
    {"command-r", re_starcoder, 0},
    {"smollm", re_starcoder, 0},
    {"codeshell", re_starcoder, 0},
    {"exaone", re_starcoder, 0},
    {"minerva-7b", re_starcoder, 0},
    {"mellum2", re_starcoder, 0},
    {"gpt-2", re_gpt2, 0},
    {"phi-2", re_gpt2, 0},
    {"jina-es", re_gpt2, 0},
    {"jina-de", re_gpt2, 0},
    {"gigachat", re_gpt2, 0},
    {"jina-v2-es", re_gpt2, 0},
    {"jina-v2-de", re_gpt2, 0},
    {"a.x-4.0", re_gpt2, 0},
    {"mellum", re_gpt2, 0},
    {"modern-bert", re_gpt2, 0},
    {"jina-v1-en", re_gpt2, 0},
    {"jina-v2-code", re_gpt2, 0},
    {"roberta-bpe", re_gpt2, 0},
    {"mpt", re_gpt2, 0},
    {"olmo", re_gpt2, 0},
    {"jais", re_gpt2, 0},
    {"trillion", re_gpt2, 0},
    {"granite-docling", re_gpt2, 0},
    {"exaone4", re_gpt2, 0},
    {"qwen2", re_qwen2, PRE_NFC},
    {"deepseek-r1-qwen", re_qwen2, PRE_NFC},
    {"kormo", re_qwen2, 0},
    {"f2llmv2", re_qwen2, 0},
    {"megrez", re_qwen2, 0},
    {"stablelm2", re_qwen2, 0},
    {"hunyuan", re_qwen2, 0},
    {"solar-open", re_qwen2, 0},
    {"grok-2", re_qwen2, 0},
    {"qwen35", re_qwen35, PRE_NFC},
    {"poro-chat", re_poro, 0},
    {"bloom", re_poro, 0},
    {"gpt3-finnish", re_poro, 0},
    {"viking", re_viking, 0},
    {"tekken", re_tekken, PRE_IGNORE_MERGES | PRE_ADD_BOS},
    {"chameleon", re_chameleon, PRE_ADD_BOS},
    {"gpt-4o", re_gpt4o_hf, PRE_HF_CATEGORIES},
    {"llama4", re_gpt4o, 0},
    {"kanana2", re_gpt4o, 0},
    {"talkie", re_gpt4o, 0},
    {"minimax-m2", re_gpt4o, 0},
    {"granite-embed-multi-97m", re_granite_emb, PRE_IGNORE_MERGES},
    {"bailingmoe", re_bailingmoe, 0},
    {"bailingmoe2", re_bailingmoe, 0},
    {"llada-moe", re_bailingmoe, 0},
    {"seed-coder", re_seed_coder, 0},
    {"ufakzeka", re_ufakzeka, 0},
    {"laguna", re_laguna, 0},
    {"exaone-moe", re_exaone_moe, 0},
    {"minicpm5", re_minicpm5, PRE_IGNORE_MERGES},
};

struct tok__pretok {
    pcre2_code *re[PRETOK_MAX_REGEX];
    int n_re;
};

/* Unicode's White_Space code points, as the body of a character class; and those above ASCII. */
#define PRETOK_WS "\\t\\n\\x0b\\f\\r\\x20" PRETOK_NAWS
#define PRETOK_NAWS "\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

/* llama.cpp runs a regex that names a Unicode category on a "collapsed" text (one stand-in byte per category),
   where \p{Lu}, \p{Ll}, \p{Lt}, \p{Lm} and \p{Lo} all mean \p{L}. */
static bool pretok_is_collapsed(const char *re) {
    static const char *const cats[] = {"\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}", "\\p{Lu}",
                                       "\\p{Ll}", "\\p{Lt}", "\\p{Lm}", "\\p{Lo}", NULL};
    for (const char *const *c = cats; *c; c++)
        if (strstr(re, *c)) return true;
    return false;
}

typedef struct {
    char *p;
    size_t n, cap;
} pretok_str_t;

static void pretok_put(pretok_str_t *o, const char *s, size_t n) {
    if (o->p && o->n + n < o->cap) memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void pretok_puts(pretok_str_t *o, const char *s) { pretok_put(o, s, strlen(s)); }

/* Writes the rewrite of the escape at e[0..n) (e[0] == '\\', n >= 2); returns the bytes it consumed. */
static size_t pretok_escape(pretok_str_t *o, const char *e, size_t n, bool in_class, bool collapsed) {
    if (e[1] == 's') {
        pretok_puts(o, in_class ? PRETOK_WS : "[" PRETOK_WS "]");
        return 2;
    }
    if (e[1] == 'S' && !in_class) {
        pretok_puts(o, "[^" PRETOK_WS "]");
        return 2;
    }
    if (collapsed && n >= 6 && strncmp(e, "\\p{L", 4) == 0 && e[5] == '}' && strchr("ultmo", e[4])) {
        pretok_puts(o, "\\p{L}");
        return 6;
    }
    pretok_put(o, e, 2);
    return 2;
}

/*
 * Rewrites one of the table's regexes so that PCRE2 matches what llama.cpp matches:
 *   - \s -> [WS], \S -> [^WS] (inside a class: \s -> WS);
 *   - a regex with Unicode categories: \p{Lu|Ll|Lt|Lm|Lo} -> \p{L} (llama.cpp cannot tell them apart);
 *   - a regex without: llama.cpp's std::wregex sees every non-ASCII white-space character as U+000B, so a class
 *     that holds non-ASCII characters must not match them (unless it holds \s or U+000B): such a class [X]
 *     becomes (?:(?![NAWS])[X]), and [^X] becomes (?:[NAWS]|[^X]).
 * With hf_categories (a regex that must match what Hugging Face's tokenizer matches, not llama.cpp) only the \s
 * rewrite applies: categories keep their meaning and classes are left alone. Writes into o (counting only when o->p is NULL). Returns false for a construct the rewriter does not handle
 * (\S inside a class).
 */
static bool pretok_rewrite_into(const char *re, bool hf_categories, pretok_str_t *o) {
    bool collapsed = !hf_categories && pretok_is_collapsed(re);
    size_t n = strlen(re);
    for (size_t i = 0; i < n; i++) {
        char c = re[i];
        if (c == '\\' && i + 1 < n) {
            i += pretok_escape(o, re + i, n - i, false, collapsed) - 1;
            continue;
        }
        if (c != '[') {
            pretok_put(o, &c, 1);
            continue;
        }
        /* a class: find its end, note what it holds */
        size_t j = i + 1;
        bool negated = re[j] == '^';
        if (negated) j++;
        if (re[j] == ']') j++; /* a leading ']' is literal */
        bool has_ws = false, has_high = false;
        for (; j < n && re[j] != ']'; j++) {
            if (re[j] == '\\' && j + 1 < n) {
                j++;
                if (re[j] == 'S') return false;
                if (re[j] == 's' || (re[j] == 'x' && strncmp(re + j, "x0b", 3) == 0)) has_ws = true;
                continue;
            }
            if ((unsigned char)re[j] >= 0x80) has_high = true;
        }
        bool wrap = !hf_categories && !collapsed && has_high && !has_ws;
        if (wrap) pretok_puts(o, negated ? "(?:[" PRETOK_NAWS "]|" : "(?:(?![" PRETOK_NAWS "])");
        for (size_t k = i; k <= j && k < n; k++) {
            if (re[k] == '\\' && k + 1 < j) k += pretok_escape(o, re + k, j - k, true, collapsed) - 1;
            else pretok_put(o, re + k, 1);
        }
        if (wrap) pretok_puts(o, ")");
        i = j;
    }
    return true;
}

/* The rewritten regex, malloc'd, or NULL (out of memory or not handled). */
static char *pretok_rewrite(const char *re, bool hf_categories) {
    pretok_str_t o = {0};
    if (!pretok_rewrite_into(re, hf_categories, &o)) return NULL;
    o.cap = o.n + 1;
    o.p = malloc(o.cap);
    if (!o.p) return NULL;
    o.n = 0;
    pretok_rewrite_into(re, hf_categories, &o);
    o.p[o.n] = '\0';
    return o.p;
}

int tok__pretok_create(const char *name, tok__pretok_t **out, bool *fallback, bool *ignore_merges, bool *add_bos,
                       bool *no_bos, bool *nfc, char *err, size_t err_len) {
    const pretok_name_t *e = &pretok_names[0];
    *fallback = false;
    if (name) {
        size_t i;
        for (i = 0; i < sizeof pretok_names / sizeof pretok_names[0]; i++)
            if (strcmp(pretok_names[i].name, name) == 0) break;
        if (i < sizeof pretok_names / sizeof pretok_names[0]) e = &pretok_names[i];
        else *fallback = true;
    }
    *ignore_merges = (e->flags & PRE_IGNORE_MERGES) != 0;
    *add_bos = (e->flags & PRE_ADD_BOS) != 0;
    *no_bos = (e->flags & PRE_NO_BOS) != 0;
    *nfc = (e->flags & PRE_NFC) != 0;

    tok__pretok_t *p = calloc(1, sizeof *p);
    if (!p) return err_set(err, err_len, ERR_NOMEM, "tokenizer: out of memory");
    for (int k = 0; e->regex[k] && k < PRETOK_MAX_REGEX; k++) {
        char *re = pretok_rewrite(e->regex[k], (e->flags & PRE_HF_CATEGORIES) != 0);
        if (!re) {
            tok__pretok_free(p);
            return err_set(err, err_len, ERR_NOMEM, "tokenizer: out of memory");
        }
        int code;
        PCRE2_SIZE at;
        p->re[k] = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY,
                                 &code, &at, NULL);
        free(re);
        if (!p->re[k]) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(code, msg, sizeof msg);
            tok__pretok_free(p);
            return err_set(err, err_len, ERR_FORMAT, "tokenizer: pre-tokenizer '%s' regex %d: %s at %zu", e->name, k,
                           (const char *)msg, (size_t)at);
        }
        pcre2_jit_compile(p->re[k], PCRE2_JIT_COMPLETE); /* optional: the interpreter is used without it */
        p->n_re = k + 1;
    }
    *out = p;
    return 0;
}

void tok__pretok_free(tok__pretok_t *p) {
    if (!p) return;
    for (int k = 0; k < p->n_re; k++) pcre2_code_free(p->re[k]);
    free(p);
}

/* Per-call matching state: the match data, and a bigger JIT stack made only when a match needs one. */
typedef struct {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *stack;
} pretok_matcher_t;

#define PRETOK_JIT_STACK_MAX ((size_t)16 << 20) /* bytes; beyond this the interpreter takes over */
#define PRETOK_HEAP_LIMIT_KIB (256u << 10)        /* the interpreter's backtracking memory, KiB */

/*
 * One match in subject[0..len) from start. When the JIT runs out of its default 32 KiB stack (long words under
 * the patterns with repeated lookahead groups), it is retried with a stack of up to 16 MiB, then with the
 * interpreter (at most 256 MiB of backtracking memory). Returns 1 with [*m0, *m1), 0 for no match, or
 * ERR_LIMIT (PCRE2's limits) / ERR_NOMEM.
 */
static int pretok_match(const pcre2_code *re, const char *subject, size_t len, size_t start, uint32_t opts,
                        pretok_matcher_t *mt, size_t *m0, size_t *m1) {
    opts |= PCRE2_NO_UTF_CHECK;
    int rc = pcre2_match(re, (PCRE2_SPTR)subject, len, start, opts, mt->md, mt->mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !mt->stack) {
        mt->mctx = pcre2_match_context_create(NULL);
        mt->stack = pcre2_jit_stack_create(1 << 20, PRETOK_JIT_STACK_MAX, NULL);
        if (!mt->mctx || !mt->stack) return ERR_NOMEM;
        pcre2_jit_stack_assign(mt->mctx, NULL, mt->stack);
        rc = pcre2_match(re, (PCRE2_SPTR)subject, len, start, opts, mt->md, mt->mctx);
    }
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
        pcre2_set_heap_limit(mt->mctx, PRETOK_HEAP_LIMIT_KIB);
        rc = pcre2_match(re, (PCRE2_SPTR)subject, len, start, opts | PCRE2_NO_JIT, mt->md, mt->mctx);
    }
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc == PCRE2_ERROR_NOMEMORY) return ERR_NOMEM;
    if (rc < 0) return ERR_LIMIT;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(mt->md);
    *m0 = ov[0];
    *m1 = ov[1];
    return 1;
}

/* Splits the piece text[off..off+len) by re into its matches and the gaps between them. */
static int pretok_split_piece(const pcre2_code *re, pretok_matcher_t *mt, const char *text, size_t off, size_t len,
                              tok__spans_t *out) {
    const char *s = text + off;
    size_t pos = 0, last = 0;
    uint32_t opts = 0;
    while (pos <= len) {
        size_t m0, m1;
        int rc = pretok_match(re, s, len, pos, opts, mt, &m0, &m1);
        if (rc < 0) return rc;
        if (rc == 0) {
            if (opts == 0 || pos >= len) break;
            /* no non-empty match here after an empty one: step over one character */
            opts = 0;
            pos += tok__utf8_len((unsigned char)s[pos]);
            continue;
        }
        if (m0 > last && (rc = tok__spans_push(out, off + last, m0 - last))) return rc;
        if (m1 > m0) {
            if ((rc = tok__spans_push(out, off + m0, m1 - m0))) return rc;
            opts = 0;
        } else {
            opts = PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED; /* an empty match: try a non-empty one at m0 */
        }
        last = pos = m1;
    }
    if (last < len) return tok__spans_push(out, off + last, len - last);
    return 0;
}

int tok__pretok_split(const tok__pretok_t *p, const char *text, size_t len, tok__spans_t *words) {
    if (len == 0) return 0;
    tok__spans_t a = {0}, b = {0};
    pretok_matcher_t mt = {pcre2_match_data_create(1, NULL), NULL, NULL};
    int rc = mt.md ? tok__spans_push(&a, 0, len) : ERR_NOMEM;
    for (int k = 0; rc == 0 && k < p->n_re; k++) {
        b.n = 0;
        for (size_t i = 0; rc == 0 && i < a.n; i++)
            rc = pretok_split_piece(p->re[k], &mt, text, a.v[i].off, a.v[i].len, &b);
        tok__spans_t tmp = a;
        a = b;
        b = tmp;
    }
    for (size_t i = 0; rc == 0 && i < a.n; i++) rc = tok__spans_push(words, a.v[i].off, a.v[i].len);
    pcre2_match_data_free(mt.md);
    pcre2_match_context_free(mt.mctx);
    pcre2_jit_stack_free(mt.stack);
    free(a.v);
    free(b.v);
    return rc;
}
