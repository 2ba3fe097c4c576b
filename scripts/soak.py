#!/usr/bin/env python3
"""Soak test of a running `cinder serve` on 127.0.0.1: N concurrent streaming clients for T seconds, a share of
which disconnect at a random point of their stream, while the server's RSS is sampled.

Each client loops: POST /v1/completions with "stream": true (random max_tokens), read the SSE stream to
"data: [DONE]" or, with probability --abort, close the connection after a random number of chunks. Prints the
requests by outcome (HTTP status, "aborted" on purpose, or the client-side error), chunks received, and RSS over
time; exits 1 when any request failed (not a 200 nor a deliberate abort) or RSS grew by more than --max-growth
MiB from the sample a quarter into the run (the warm-up: the KV pool gets touched) to the last.

Usage: soak.py --port P --pid PID [--clients 64] [--seconds 60] [--abort 0.2] [--model ID] [--seed 1]
"""
import argparse
import collections
import http.client
import json
import random
import socket
import sys
import threading
import time


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--abort", type=float, default=0.2)
    ap.add_argument("--model", default="stories260K")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-growth", type=float, default=32.0)
    a = ap.parse_args()
    if not 1 <= a.clients <= 256 or not 1 <= a.seconds <= 3600:
        sys.exit("soak.py: --clients 1..256 and --seconds 1..3600")

    lock = threading.Lock()
    outcomes = collections.Counter()
    chunks = [0]
    end = time.time() + a.seconds

    def client(idx):
        rnd = random.Random(a.seed * 1000 + idx)
        conn = None
        while time.time() < end:
            abort_after = rnd.randint(1, 40) if rnd.random() < a.abort else None
            body = json.dumps({"model": a.model, "prompt": "Once upon a time", "stream": True,
                               "max_tokens": rnd.randint(16, 256), "temperature": 1.0,
                               "seed": rnd.randint(0, 1 << 30)})
            outcome, n = None, 0
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
                conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                if r.status != 200:
                    r.read()
                    outcome = str(r.status)
                else:
                    done = False
                    while True:
                        line = r.readline()
                        if not line:
                            break
                        if line.startswith(b"data: "):
                            if line.strip() == b"data: [DONE]":
                                done = True
                            else:
                                n += 1
                            if abort_after is not None and n >= abort_after:
                                break
                        if done:
                            r.read()  # the chunked terminator
                            break
                    if abort_after is not None and not done:
                        outcome = "aborted"
                        conn.close()  # the disconnect: the server must cancel the generation
                        conn = None
                    else:
                        outcome = "200" if done else "200 without [DONE]"
            except (OSError, http.client.HTTPException) as e:
                outcome = type(e).__name__
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                outcomes[outcome] += 1
                chunks[0] += n
        if conn is not None:
            conn.close()

    samples = []

    def sampler():
        t0 = time.time()
        while time.time() < end + 1:
            samples.append((time.time() - t0, rss_mib(a.pid)))
            time.sleep(max(1.0, a.seconds / 12))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(a.clients)]
    st = threading.Thread(target=sampler, daemon=True)
    st.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(a.seconds + 120)
    st.join(5)

    total = sum(outcomes.values())
    failed = sum(v for k, v in outcomes.items() if k not in ("200", "aborted"))
    print(f"soak: {a.clients} clients, {a.seconds:.0f} s, abort share {a.abort}: {total} requests, "
          f"{chunks[0]} chunks ({total / a.seconds:.1f} requests/s)")
    for k, v in sorted(outcomes.items()):
        print(f"  {k:>24}: {v}")
    print("  RSS over time (s: MiB): " + ", ".join(f"{t:.0f}: {m:.1f}" for t, m in samples))
    # the KV pool and buffers are touched in the first quarter; growth is measured from there
    warm = next((m for t, m in samples if t >= a.seconds / 4), samples[0][1])
    growth = samples[-1][1] - warm
    print(f"  RSS growth after warm-up: {growth:+.1f} MiB (limit {a.max_growth})")
    ok = failed == 0 and growth <= a.max_growth and outcomes["200"] > 0
    print(f"soak: {'ok' if ok else 'FAILED'} ({failed} failed requests)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
