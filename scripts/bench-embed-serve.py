#!/usr/bin/python3
"""Embeddings per second on /v1/embeddings: `cinder serve` and, with LLAMA_SERVER, llama.cpp's server (started with
--embedding) on the same file and threads, driven by the same client in the same run.

For each batch size (default 1, 16, 64) the client sends requests of that many short inputs (WORDS words each, from
a seeded word list, a different set each request) one after another for SECONDS seconds and counts embeddings per
second. The servers alternate ROUNDS times; the medians are reported, with cinder / llama-server per batch size.
Before measuring, one batch goes to both servers and their vectors are compared (cosine), so a server that answers
fast with wrong numbers shows.

Environment (all optional): MODEL (default bench-models/emb-bge-small-f16.gguf: a synthetic BERT of bge-small's
shape, 384 wide, 12 layers, with bge's 30522-token WordPiece vocabulary; generated when missing), LLAMA_SERVER,
LLAMA_ARGS (extra llama-server arguments; default "-np 16 -c 8192 -b 2048 -ub 2048": 16 slots and a pass of up to
2048 tokens, the best of the settings tried on the default model, see BENCHMARKS.md), THREADS (default: CPUs), BATCHES (default "1 16 64"), ROUNDS (default 3), SECONDS (default
4), WORDS (default 12), ENCODING (float or base64, default float), SHARED (default ../shared), JSON_OUT (a file for
the raw figures). llama.cpp is never built or fetched here. cinder's F16 and F32 products go through OpenBLAS, whose
kernels follow OPENBLAS_CORETYPE when it is set (Haswell: AVX2 kernels even on an AVX-512 CPU); the header line
says what it was.
"""
import base64
import http.client
import json
import math
import os
import random
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
SHARED = os.environ.get("SHARED", "../shared")
DEFAULT_MODEL = "bench-models/emb-bge-small-f16.gguf"
MODEL = os.environ.get("MODEL", DEFAULT_MODEL)
LLAMA_SERVER = os.environ.get("LLAMA_SERVER", "")
LLAMA_ARGS = os.environ.get("LLAMA_ARGS", "-np 16 -c 8192 -b 2048 -ub 2048").split()
THREADS = int(os.environ.get("THREADS", str(os.cpu_count() or 1)))
BATCHES = [int(b) for b in os.environ.get("BATCHES", "1 16 64").split()]
ROUNDS = int(os.environ.get("ROUNDS", "3"))
SECONDS = float(os.environ.get("SECONDS", "4"))
WORDS = int(os.environ.get("WORDS", "12"))
ENCODING = os.environ.get("ENCODING", "float")
JSON_OUT = os.environ.get("JSON_OUT", "")


def die(msg):
    print("bench-embed-serve: " + msg, file=sys.stderr)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A server process on a free port, its output in a log file."""

    def __init__(self, name, argv_for_port, log_dir):
        self.name = name
        self.port = free_port()
        self.log_path = os.path.join(log_dir, name + ".log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv_for_port(self.port), stdout=self.log, stderr=subprocess.STDOUT)

    def wait_up(self):
        for _ in range(1200):
            if self.proc.poll() is not None:
                die("%s exited: %s" % (self.name, self.tail()))
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        die("%s did not come up: %s" % (self.name, self.tail()))

    def tail(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read()[-600:].decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def word_list():
    """Words of the shared stories text, lower-cased, letters only: real English, in WordPiece's vocabulary."""
    with open(os.path.join(SHARED, "models/reference/stories.txt"), encoding="utf-8") as f:
        words = {"".join(ch for ch in w.lower() if ch.isalpha()) for w in f.read().split()}
    return sorted(w for w in words if w)


def make_batch(rng, words, n):
    return [" ".join(rng.choice(words) for _ in range(WORDS)) for _ in range(n)]


def decode_vectors(body, n):
    data = body.get("data")
    if not isinstance(data, list) or len(data) != n:
        die("expected %d embeddings, got %r" % (n, str(body)[:300]))
    out = [None] * n
    for item in data:
        e = item["embedding"]
        if isinstance(e, str):
            raw = base64.b64decode(e)
            e = list(struct.unpack("<%df" % (len(raw) // 4), raw))
        out[item["index"]] = e
    return out


def embed(conn, inputs):
    payload = json.dumps({"model": "m", "input": inputs, "encoding_format": ENCODING})
    conn.request("POST", "/v1/embeddings", payload, {"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        die("HTTP %d: %s" % (r.status, body[:300]))
    return decode_vectors(json.loads(body), len(inputs))


def measure(server, words, batch, seed):
    """Embeddings per second over SECONDS of back-to-back requests of `batch` inputs on one connection."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    embed(conn, make_batch(rng, words, batch))  # warm: connection, pages
    done, start = 0, time.perf_counter()
    while True:
        embed(conn, make_batch(rng, words, batch))
        done += batch
        elapsed = time.perf_counter() - start
        if elapsed >= SECONDS and done >= 2 * batch:
            break
    conn.close()
    return done / elapsed


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def main():
    if not os.access("./cinder", os.X_OK):
        die("./cinder is missing; run make first")
    if not os.path.exists(MODEL):
        if MODEL != DEFAULT_MODEL:
            die("model %s not found" % MODEL)
        os.makedirs("bench-models", exist_ok=True)
        subprocess.run(["/usr/bin/python3", os.path.join(SHARED, "tools/synth_gguf.py"), "--donor",
                        os.path.join(SHARED, "models/vocab/ggml-vocab-bert-bge.gguf"), "--arch", "bert",
                        "--dims", "384,12,12,12,1536,512", "--type", "f16", "-o", MODEL],
                       check=True, stdout=subprocess.DEVNULL)
    words = word_list()
    tmp = tempfile.mkdtemp(prefix="bench-embed-")
    servers = [Server("cinder", lambda p: ["./cinder", "serve", "--port", str(p), "-m", MODEL, "-t", str(THREADS),
                                           "--no-memory-check", "--alias", "m"], tmp)]
    if LLAMA_SERVER:
        servers.append(Server("llama-server", lambda p: [LLAMA_SERVER, "--port", str(p), "-m", MODEL, "-t",
                                                         str(THREADS), "--embedding", "--no-webui", "--alias", "m"] + LLAMA_ARGS, tmp))
    try:
        for s in servers:
            s.wait_up()
        cpu = open("/proc/cpuinfo").read()
        isa = " ".join(x for x in ("avx2", "avx512_vnni") if x in cpu)
        print("model %s, %d threads, %d words per input, %s, CPU: %s, OPENBLAS_CORETYPE %s" %
              (MODEL, THREADS, WORDS, ENCODING, isa, os.environ.get("OPENBLAS_CORETYPE", "unset")))
        if len(servers) == 2:
            batch = make_batch(random.Random(7), words, 8)
            conns = [http.client.HTTPConnection("127.0.0.1", s.port, timeout=600) for s in servers]
            a, b = (embed(c, batch) for c in conns)
            worst = min(cosine(x, y) for x, y in zip(a, b))
            print("agreement: lowest cosine between the servers' vectors over 8 inputs: %.6f" % worst)
        results = {s.name: {b: [] for b in BATCHES} for s in servers}
        for rnd in range(ROUNDS):
            for s in servers:
                for b in BATCHES:
                    eps = measure(s, words, b, 1000 * rnd + b)
                    results[s.name][b].append(eps)
                    print("round %d %-12s batch %3d: %8.1f embeddings/s" % (rnd + 1, s.name, b, eps), flush=True)
        print("\nmedians over %d rounds (embeddings/s)" % ROUNDS)
        print("| batch | " + " | ".join(s.name for s in servers) + (" | ratio |" if len(servers) == 2 else " |"))
        for b in BATCHES:
            med = [statistics.median(results[s.name][b]) for s in servers]
            row = "| %d | " % b + " | ".join("%.1f" % m for m in med)
            if len(med) == 2:
                row += " | %.2f" % (med[0] / med[1])
            print(row + " |")
        if JSON_OUT:
            with open(JSON_OUT, "w") as f:
                json.dump({"model": MODEL, "threads": THREADS, "words": WORDS, "encoding": ENCODING,
                           "results": results}, f, indent=1)
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
