#!/usr/bin/env python3
"""Raw-socket HTTP checks of `cinder serve` (127.0.0.1 only), for tests/e2e/test_http.sh.

Each case writes bytes no well-behaved client library would send (repeated Content-Length, smuggling shapes,
a body that never comes, headers one byte a second) and checks the status line(s) that come back and whether the
server closed the connection. Prints "ok   NAME" or "FAIL NAME" plus detail per case; exits 0.

Usage: http_raw.py GROUP PORT [KEY] [PID]
  GROUP framing  strict framing (RFC 9112): 400/501 and the connection closed     (needs KEY: a valid API key)
  GROUP early    answers from the headers alone, before any body is read          (server with --api-key; PID for RSS)
  GROUP slow     deadlines: --header-timeout 2 --min-body-rate 1000 --max-connections 8 --max-connections-per-ip 0
  GROUP perip    --max-connections-per-ip 4
  GROUP abort    clients that leave mid-stream, while waiting, mid-body (test_http.sh then reads the log lines)
  GROUP stall    a stream whose client stops reading (--stream-buffer-bytes 16384 --timeout 3): test_http.sh then
                 reads the request's log line (outcome=timeout, few tokens generated)
"""
import socket
import sys
import threading
import time

PORT = int(sys.argv[2])
KEY = sys.argv[3] if len(sys.argv) > 3 else ""
PID = int(sys.argv[4]) if len(sys.argv) > 4 else 0


def ok(name):
    print(f"ok   {name}", flush=True)


def bad(name, detail=""):
    print(f"FAIL {name}", flush=True)
    if detail:
        print(f"     {detail}", flush=True)


def connect(timeout=5.0):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    return s


def read_until_close(s, wait):
    """Reads for at most `wait` seconds. Returns (bytes, closed)."""
    buf = b""
    end = time.time() + wait
    s.settimeout(0.2)
    while time.time() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return buf, True
        if not b:
            return buf, True
        buf += b
    return buf, False


def statuses(buf):
    return [int(l.split(b" ")[1]) for l in buf.split(b"\r\n") if l.startswith(b"HTTP/1.") and len(l.split(b" ")) > 1]


def expect(name, data, want_status, want_closed=True, wait=3.0):
    """Sends data on a new connection; the first status must be want_status, and the connection must be closed
    (want_closed) within `wait` seconds without any other response."""
    s = connect()
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    buf, closed = read_until_close(s, wait if want_closed else 0.8)
    s.close()
    st = statuses(buf)
    # (libmicrohttpd's own 400 pages repeat their status line: every status must be the one expected)
    if st and all(x == want_status for x in st) and closed == want_closed:
        ok(name)
    else:
        bad(name, f"statuses {st}, closed {closed}; got {buf[:300]!r}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


AUTH = f"Authorization: Bearer {KEY}\r\n".encode()
BODY = b'{"model":"x","prompt":"a","max_tokens":1}'
CL = f"Content-Length: {len(BODY)}\r\n".encode()
POST = b"POST /v1/completions HTTP/1.1\r\nHost: t\r\n"


def framing():
    # the server answers a well-framed request (the baseline the rest differ from): 404 model_not_found
    expect("framing: a well-framed POST is answered and kept alive", POST + AUTH + CL + b"\r\n" + BODY, 404,
           want_closed=False)
    expect("framing: two different Content-Length -> 400, closed",
           POST + AUTH + CL + b"Content-Length: 5\r\n\r\n" + BODY, 400)
    expect("framing: the same Content-Length twice -> 400, closed", POST + AUTH + CL + CL + b"\r\n" + BODY, 400)
    expect("framing: Content-Length with Transfer-Encoding: chunked -> 400, closed",
           POST + AUTH + CL + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\n\r\n",
           400)
    expect("framing: whitespace before the colon (Content-Length : N) -> 400, closed",
           POST + AUTH + b"Content-Length : %d\r\n\r\n" % len(BODY) + BODY, 400)
    expect("framing: Transfer-Encoding: gzip -> 501, closed", POST + AUTH + b"Transfer-Encoding: gzip\r\n\r\n" + BODY,
           501)
    expect("framing: Transfer-Encoding: chunked, chunked -> 501, closed",
           POST + AUTH + b"Transfer-Encoding: chunked, chunked\r\n\r\n" + b"%x\r\n" % len(BODY) + BODY +
           b"\r\n0\r\n\r\n", 501)
    expect("framing: Transfer-Encoding twice -> 501, closed",
           POST + AUTH + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" +
           b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\n\r\n", 501)
    expect("framing: HTTP/1.1 without Host -> 400, closed", b"GET /health HTTP/1.1\r\n\r\n", 400)
    expect("framing: Content-Length that is not a number -> 400, closed",
           POST + AUTH + b"Content-Length: 4x\r\n\r\n" + BODY, 400)
    expect("framing: HTTP/1.0 without Host is served", b"GET /health HTTP/1.0\r\n\r\n", 200)
    # chunked alone is fine: the body is read and the request answered (404: no such model)
    expect("framing: a chunked body alone is read and answered",
           POST + AUTH + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\n\r\n", 404,
           want_closed=False)


def early():
    big = b"Content-Length: 8000000\r\n"
    for what, head, st in [
        ("no key", b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n" + big, 401),
        ("a wrong key", b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer nope\r\n" + big, 401),
        ("an unknown route", b"POST /v1/nope HTTP/1.1\r\nHost: t\r\n" + big, 404),
        ("a wrong method", b"PUT /v1/chat/completions HTTP/1.1\r\nHost: t\r\n" + big, 405),
        ("a body over the limit", b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n" + AUTH +
         b"Content-Length: 900000000\r\n", 413),
    ]:
        # Expect: 100-continue: the answer comes instead of "100 Continue", and no body is ever sent
        expect(f"early: {what} with Expect: 100-continue -> {st} at once, no 100", head +
               b"Expect: 100-continue\r\n\r\n", st, wait=2.0)
        # a client that sends its body anyway gets the answer before it has sent it all
        s = connect()
        s.sendall(head + b"\r\n" + b"x" * 65536)
        buf, closed = read_until_close(s, 1.5)
        s.close()
        if statuses(buf)[:1] == [st] and closed:
            ok(f"early: {what} -> {st} before the body, closed")
        else:
            bad(f"early: {what} -> {st} before the body, closed", f"{buf[:200]!r} closed {closed}")
    if not PID:
        return
    # 20 unauthenticated uploads of 8 MB minus a byte pin no memory: each is answered and closed at the headers
    before = rss_kib(PID)
    socks = []
    answered = 0
    for _ in range(20):
        s = connect()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 8388608\r\n\r\n")
        socks.append(s)

    def push(s):
        try:
            for _ in range(128):
                s.sendall(b"x" * 65536)
        except OSError:
            pass

    threads = [threading.Thread(target=push, args=(s,)) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    for s in socks:
        buf, _ = read_until_close(s, 0.3)
        answered += statuses(buf)[:1] == [401]
        s.close()
    grew = rss_kib(PID) - before
    if answered == 20 and grew < 16 * 1024:
        ok(f"early: 20 unauthenticated 8 MB uploads: all 401, RSS grew {grew} KiB")
    else:
        bad("early: 20 unauthenticated 8 MB uploads pin no memory", f"{answered} answered 401, RSS grew {grew} KiB")


def closed_within(s, limit):
    """Seconds until the server closed s (reading and dropping what it sends), or None within limit."""
    t0 = time.time()
    _, closed = read_until_close(s, limit)
    return time.time() - t0 if closed else None


def trickle(s, data, every, stop):
    """Sends data one byte per `every` seconds until it is sent, the socket fails, or stop is set."""
    for b in data:
        if stop.is_set():
            return
        try:
            s.sendall(bytes([b]))
        except OSError:
            return
        time.sleep(every)


def get_health(timeout):
    """A fresh client's GET /health: seconds until it was answered 200, or None."""
    t0 = time.time()
    try:
        s = connect(timeout)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        buf, _ = read_until_close(s, timeout)
        s.close()
    except OSError:
        return None
    return time.time() - t0 if statuses(buf)[:1] == [200] else None


def slow():
    endless = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 10000
    # a head trickled one byte every 0.2 s is cut at the header deadline (2 s), not kept alive by every byte
    stop = threading.Event()
    s = connect()
    threading.Thread(target=trickle, args=(s, endless, 0.2, stop), daemon=True).start()
    t = closed_within(s, 6)
    stop.set()
    s.close()
    if t is not None and 1.5 <= t <= 4.5:
        ok(f"slow: a trickled request head is closed at the header deadline ({t:.1f} s)")
    else:
        bad("slow: a trickled request head is closed at the header deadline", f"closed after {t}")
    # a body trickled at 20 bytes/s (under 1000) is cut after its 5 s grace
    stop = threading.Event()
    s = connect()
    s.sendall(POST + AUTH + b"Content-Length: 100000\r\n\r\n")
    threading.Thread(target=trickle, args=(s, b"x" * 1000, 0.05, stop), daemon=True).start()
    t = closed_within(s, 12)
    stop.set()
    s.close()
    if t is not None and 4.5 <= t <= 8.5:
        ok(f"slow: a body under --min-body-rate is cut after the grace ({t:.1f} s)")
    else:
        bad("slow: a body under --min-body-rate is cut after the grace", f"closed after {t}")
    # a kept-alive connection idle longer than the header deadline still gets its next request served: the
    # deadline runs from the next request's first byte
    s = connect()
    s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
    buf1, _ = read_until_close(s, 0.5)
    time.sleep(3)
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        buf2, _ = read_until_close(s, 1.0)
    except OSError:
        buf2 = b""
    s.close()
    if statuses(buf1) == [200] and statuses(buf2) == [200]:
        ok("slow: a kept-alive connection idle past the header deadline serves its next request")
    else:
        bad("slow: a kept-alive connection idle past the header deadline serves its next request",
            f"{statuses(buf1)} then {statuses(buf2)}")
    # 8 idle connections (the limit) do not lock a new client out: the oldest idle one makes room
    idle = [connect() for _ in range(8)]
    time.sleep(0.3)
    t = get_health(3)
    n_closed = sum(1 for x in idle if closed_within(x, 0.05) is not None)
    for x in idle:
        x.close()
    if t is not None and n_closed >= 1:
        ok(f"slow: at --max-connections, idle connections are closed first: a new client served in {t:.2f} s")
    else:
        bad("slow: at --max-connections, idle connections are closed first", f"served {t}, {n_closed} idle closed")
    time.sleep(0.3)
    # 8 trickling heads (the limit; not idle) hold the server at most until the header deadline
    stop = threading.Event()
    held = []
    for _ in range(8):
        held.append(connect())
        threading.Thread(target=trickle, args=(held[-1], endless, 0.2, stop), daemon=True).start()
        time.sleep(0.1)
    time.sleep(0.5)
    t = get_health(6)
    stop.set()
    for x in held:
        x.close()
    if t is not None and 0.5 <= t <= 4:
        ok(f"slow: 8 slowloris connections at the limit delay a new client by {t:.1f} s at most the deadline")
    else:
        bad("slow: slowloris connections at the limit are cut at the header deadline", f"served after {t}")


def perip():
    held = [connect() for _ in range(4)]
    time.sleep(0.3)
    extra = connect()
    t = closed_within(extra, 2)
    for x in held + [extra]:
        x.close()
    if t is not None:
        ok(f"perip: a 5th connection from one address past --max-connections-per-ip 4 is refused ({t:.2f} s)")
    else:
        bad("perip: a 5th connection from one address is refused", "still open after 2 s")
    time.sleep(0.3)
    t = get_health(3)
    ok("perip: served again once the four close") if t is not None else bad("perip: served again once the four close")


def stall():
    import json
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel buffers little on our side
    s.connect(("127.0.0.1", PORT))
    body = json.dumps({"model": "stories260K", "prompt": "Once upon a time", "max_tokens": 2000, "n": 8,
                       "temperature": 1, "stream": True}).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    time.sleep(1.0)
    got = s.recv(1024)  # the stream began
    t = closed_within_noread(s, 8)
    s.close()
    if got.startswith(b"HTTP/1.1 200") and t is not None:
        ok(f"stall: a stream whose client stopped reading is closed after --timeout ({t + 1:.1f} s)")
    else:
        bad("stall: a stream whose client stopped reading is closed after --timeout", f"{got[:60]!r}, {t}")
    ok("stall: the server still answers") if get_health(3) is not None else bad("stall: the server still answers")


def abort():
    import json
    body = json.dumps({"model": "stories260K", "prompt": "Once upon a time", "max_tokens": 1500, "n": 4,
                       "temperature": 1, "stream": True}).encode()
    head = b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    s = connect()
    s.sendall(head % len(body) + body)
    got = s.recv(2048)
    s.close()  # mid-stream
    s = connect()
    nb = body.replace(b'"stream": true', b'"stream": false')
    s.sendall(head % len(nb) + nb)
    time.sleep(0.2)
    s.close()  # while waiting for a whole response
    s = connect()
    s.sendall(head % len(body) + body[:10])
    time.sleep(0.2)
    s.close()  # mid-body
    time.sleep(0.5)
    ok("abort: three clients left") if got.startswith(b"HTTP/1.1 200") else bad("abort: three clients left", got[:80])


def closed_within_noread(s, limit):
    """Seconds until the server closed s, noticed without reading its data (a write fails), or None."""
    t0 = time.time()
    while time.time() - t0 < limit:
        try:
            s.send(b"x")  # past the request: the server ignores it, but a closed connection makes this fail
        except OSError:
            return time.time() - t0
        time.sleep(0.2)
    return None


if __name__ == "__main__":
    {"framing": framing, "early": early, "slow": slow, "perip": perip, "stall": stall, "abort": abort}[sys.argv[1]]()
