#!/usr/bin/python3
"""Regenerates tests/embed/reference.json: llama.cpp's embeddings of the synthetic embedding models (emb-* in
tests/archs/models.tsv) for the inputs below, which test_embed.c compares with cinder's, input by input.

Run from the repository root after scripts/synth-models.sh (`make synth-models`), with LLAMA_BIN pointing at a
directory holding llama.cpp's llama-embedding (built separately; nothing here builds it):

    LLAMA_BIN=/path/to/llama.cpp/build/bin /usr/bin/python3 tests/embed/make_reference.py

Every model embeds all inputs in one llama-embedding run (one batch of mixed lengths; llama.cpp's sequences do not
see each other), pooled as the model's <arch>.pooling_type says and L2-normalised (--embd-normalize 2). The inputs
are lower case: the bge vocabulary file has no normalizer keys, and llama.cpp (de3ff81) then leaves text cased
where BERT's uncased tokenizer (and cinder) lowercase it; lower-case inputs tokenize the same either way.
"""
import json
import os
import subprocess
import sys

BIN = os.environ["LLAMA_BIN"]
MODELS = ["emb-bert-f32", "emb-bert-f16", "emb-bert-q8_0", "emb-bert-cls-f32", "emb-nomic-f32", "emb-nomic-f16",
          "emb-nomic-q8_0", "emb-qwen3-f32", "emb-qwen3-f16", "emb-qwen3-q8_0"]
INPUTS = [
    "hello world",
    "a",
    "the quick brown fox jumps over the lazy dog.",
    "what is the capital of france?",
    "embeddings map text to vectors, so that texts with similar meanings get vectors that point the same way; "
    "a search engine then ranks documents by the cosine of their vectors with the query's vector, and a "
    "retrieval-augmented chat model puts the best of them into its prompt before it answers. the vectors of "
    "an encoder come from every token's hidden state, averaged, or from the first token alone, and they are "
    "scaled to unit length so that a dot product is their cosine.",
    "dog lazy the over jumps fox brown quick the.",
]


def embed(model):
    for _ in range(10):  # llama.cpp's asynchronous log now and then cuts its stdout short; the values are deterministic
        r = subprocess.run([f"{BIN}/llama-embedding", "-m", model, "-p", "\n".join(INPUTS), "--embd-normalize", "2",
                            "--embd-output-format", "json", "-c", "512", "-b", "512", "-ub", "512", "-t", "2"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"llama-embedding failed on {model} (exit {r.returncode}):\n{r.stderr[-2000:]}")
        try:
            data = json.loads(r.stdout)["data"]
            break
        except json.JSONDecodeError as e:
            print(f"{model}: {e}: {r.stdout[max(0, e.pos - 80):e.pos + 40]!r}", file=sys.stderr)
    else:
        sys.exit(f"llama-embedding's output for {model} is not JSON")
    assert len(data) == len(INPUTS), (model, len(data))
    return [[round(x, 7) for x in d["embedding"]] for d in sorted(data, key=lambda d: d["index"])]


def main():
    out = {"llama_cpp_commit": "de3ff81", "normalize": 2, "inputs": INPUTS, "models": {}}
    for name in MODELS:
        out["models"][name] = embed(f"build/synth/{name}.gguf")
        print(name, file=sys.stderr)
    with open("tests/embed/reference.json", "w") as f:
        json.dump(out, f, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
