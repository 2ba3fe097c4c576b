#!/usr/bin/env python3
"""A stand-in for the Hugging Face Hub on 127.0.0.1, for tests/e2e/test_pull.sh (Python 3 standard library only).

Serves the GGUF files of a models folder (../shared/models) as Hub repositories, with the Hub's URL layout:

  GET /api/models/OWNER/REPO/tree/main[?recursive=true][&cursor=N]
        [{"type":"file","oid":GIT_SHA1,"size":N,"path":P,"lfs":{"oid":SHA256,"size":N,"pointerSize":134}}, ...]
        paginated with `Link: <...&cursor=N>; rel="next"` when a page size is set
  GET /api/models/OWNER/REPO[?blobs=true]
        {"id":..., "siblings":[{"rfilename":P[, "size":N, "lfs":{"sha256":..., "size":N}]}]}
  GET|HEAD /OWNER/REPO/resolve/main/PATH
        LFS files: 302 to a second port (the "CDN") with X-Linked-Etag / X-Linked-Size / ETag / X-Repo-Commit,
        as the Hub does; small files: 200 directly
  GET|HEAD /cdn/SHA256 on the CDN port: the bytes, with Range support (206 + Content-Range) and an S3-style ETag
  Errors: 404 with X-Error-Code RepoNotFound / EntryNotFound; the repository "private/stories-GGUF" answers 401
  (X-Error-Code GatedRepo) without `Authorization: Bearer <token>` and 401 "Invalid credentials" with a wrong one.

Faults for the tests are switched with GET /_ctl?KEY=VALUE&... on the hub port:
  reset=1            all faults off
  cut=PATH&cut_at=N&cut_times=K   the next K CDN responses for PATH send N bytes of the body, then drop the connection
  bad_sha=PATH       publish a wrong SHA-256 for PATH (tree, info, headers)
  ignore_range=1     the CDN answers every Range request with 200 and the whole file
  no_tree=1          the tree API answers 404 (a mirror with only the model info API)
  etag_only=1        the redirect carries the digest in ETag only, no X-Linked-Etag
  page_size=N        tree API pages of N entries
Every request is appended to the log file as one JSON line: port role, method, path, Range, Authorization.

Usage: hub_server.py MODELS_DIR PORT_FILE LOG_FILE [TOKEN]
Writes "HUB_PORT CDN_PORT" to PORT_FILE once both ports listen; runs until killed. Listens on 127.0.0.1, or on
the address in HUB_ADDRESS (tests/container/check.sh gives the host's, which containers reach); redirects name it.
"""
import hashlib
import json
import os
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS, PORT_FILE, LOG_FILE = sys.argv[1], sys.argv[2], sys.argv[3]
TOKEN = sys.argv[4] if len(sys.argv) > 4 else "hf_test_secret"
ADDRESS = os.environ.get("HUB_ADDRESS") or "127.0.0.1"
COMMIT = "0123456789abcdef0123456789abcdef01234567"

# repository -> {path in repo: file in MODELS}
REPOS = {
    "test/stories260K-GGUF": {
        "stories260K-Q8_0.gguf": "stories260K-Q8_0.gguf",
        "stories260K-Q4_0.gguf": "stories260K-Q4_0.gguf",
        "stories260K-F16.gguf": "stories260K-F16.gguf",
        "stories260K-BF16.gguf": "stories260K-BF16.gguf",
        "README.md": None,  # a small non-LFS file
    },
    "test/tinyk-GGUF": {"tinyk-Q4_K_M.gguf": "tinyk-Q4_K_M.gguf", "tinyk-Q6_K.gguf": "tinyk-Q6_K.gguf"},
    "test/tiny-random-GGUF": {
        "llama-2-tiny-random.F16.gguf": "llama-2-tiny-random.gguf",
        "llama-2-tiny-random.F32.gguf": "tinyllamas-stories-260k-f32.gguf",
    },
    "test/nested": {"sub dir/stories260K.F32.gguf": "stories260K.gguf", "mmproj-stories-F16.gguf": "stories260K-F16.gguf"},
    "private/stories-GGUF": {"stories-Q8_0.gguf": "stories260K-Q8_0.gguf"},
}
README = b"# test repository\n"

lock = threading.Lock()
faults = {}
CDN_PORT = 0
blobs = {}  # sha256 -> bytes, for the CDN


def content(repo, path):
    src = REPOS[repo][path]
    if src is None:
        return README
    with open(os.path.join(MODELS, src), "rb") as f:
        return f.read()


def entries(repo):
    """(path, bytes, sha256, is_lfs) for every file of a repository, sorted by path."""
    out = []
    for path in sorted(REPOS[repo]):
        data = content(repo, path)
        sha = hashlib.sha256(data).hexdigest()
        blobs[sha] = data
        with lock:
            if faults.get("bad_sha") == path:
                sha = hashlib.sha256(b"not the file").hexdigest()
        out.append((path, data, sha, REPOS[repo][path] is not None))
    return out


def log(role, handler):
    rec = {
        "role": role,
        "method": handler.command,
        "path": urllib.parse.unquote(handler.path),
        "range": handler.headers.get("Range"),
        "auth": handler.headers.get("Authorization"),
    }
    with lock, open(LOG_FILE, "a") as f:
        f.write(json.dumps(rec) + "\n")


class Hub(BaseHTTPRequestHandler):
    role = "hub"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=(), ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message):
        self.send(status, json.dumps({"error": message}).encode(), [("X-Error-Code", code), ("X-Error-Message", message)])

    def auth_ok(self, repo):
        """True when the repository may be read; otherwise answers 401 like the Hub and returns False."""
        if not repo.startswith("private/"):
            return True
        got = self.headers.get("Authorization")
        if got is None:
            msg = f"Access to model {repo} is restricted. You must be authenticated to access it."
            self.error(401, "GatedRepo", msg)
            return False
        if got != f"Bearer {TOKEN}":
            self.error(401, "", "Invalid credentials in Authorization header")
            return False
        return True

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        log(self.role, self)
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
        if parts[:1] == ["_ctl"]:
            return self.control(query)
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo = "/".join(parts[2:4])
            if repo not in REPOS:
                return self.error(404, "RepoNotFound", "Repository not found")
            if not self.auth_ok(repo):
                return
            if parts[4:6] == ["tree", "main"]:
                return self.tree(repo, query)
            if len(parts) == 4:
                return self.info(repo, "blobs" in query)
        if len(parts) >= 5 and parts[2:4] == ["resolve", "main"]:
            repo = "/".join(parts[0:2])
            path = "/".join(parts[4:])
            if repo not in REPOS:
                return self.error(404, "RepoNotFound", "Repository not found")
            if not self.auth_ok(repo):
                return
            return self.resolve(repo, path)
        self.error(404, "", "Not found")

    def control(self, query):
        with lock:
            if "reset" in query:
                faults.clear()
            for k, v in query.items():
                if k != "reset":
                    faults[k] = v[0]
        self.send(200, b"ok\n", ctype="text/plain")

    def tree(self, repo, query):
        with lock:
            if faults.get("no_tree"):
                return self.error(404, "", "Not found")
            page = int(faults.get("page_size", "0"))
        items = []
        for path, data, sha, lfs in entries(repo):
            e = {"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data), "path": path}
            if lfs:
                e["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
            items.append(e)
        dirs = sorted({p.rsplit("/", 1)[0] for p in REPOS[repo] if "/" in p})
        items = [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in dirs] + items
        headers = []
        if page:
            start = int(query.get("cursor", ["0"])[0])
            if start + page < len(items):
                host = self.headers.get("Host")
                nxt = f"http://{host}/api/models/{repo}/tree/main?recursive=true&cursor={start + page}"
                headers.append(("Link", f'<{nxt}>; rel="next"'))
            items = items[start : start + page]
        self.send(200, json.dumps(items).encode(), headers)

    def info(self, repo, with_blobs):
        sib = []
        for path, data, sha, lfs in entries(repo):
            s = {"rfilename": path}
            if with_blobs and not faults.get("no_tree"):  # a bare mirror: names only
                s["size"] = len(data)
                if lfs:
                    s["lfs"] = {"sha256": sha, "size": len(data), "pointerSize": 134}
            sib.append(s)
        self.send(200, json.dumps({"id": repo, "modelId": repo, "sha": COMMIT, "siblings": sib}).encode())

    def resolve(self, repo, path):
        found = [e for e in entries(repo) if e[0] == path]
        if not found:
            return self.error(404, "EntryNotFound", f"{path} does not exist on \"main\"")
        _, data, sha, lfs = found[0]
        if not lfs:
            return self.send(200, data, [("ETag", f'"{hashlib.sha1(data).hexdigest()}"'), ("X-Repo-Commit", COMMIT)],
                             ctype="text/plain")
        real = hashlib.sha256(data).hexdigest()
        with lock:
            etag_only = faults.get("etag_only")
        cdn = CDN_PORT
        headers = [("Location", f"http://{ADDRESS}:{cdn}/cdn/{real}?name={urllib.parse.quote(path)}"),
                   ("X-Repo-Commit", COMMIT), ("X-Linked-Size", str(len(data))), ("ETag", f'"{sha}"'),
                   ("Accept-Ranges", "bytes")]
        if not etag_only:
            headers.append(("X-Linked-Etag", f'"{sha}"'))
        self.send(302, b"Found. Redirecting", headers, ctype="text/plain")


class Cdn(Hub):
    role = "cdn"

    def do_GET(self):
        log(self.role, self)
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.split("/")
        name = urllib.parse.parse_qs(url.query).get("name", [""])[0]
        data = blobs.get(parts[-1]) if parts[1:2] == ["cdn"] else None
        if data is None:
            return self.send(404, b"NoSuchKey", ctype="text/plain")
        etag = f'"{hashlib.md5(data).hexdigest()}"'  # S3-style: not a SHA-256
        start, status = 0, 200
        rng = self.headers.get("Range")
        with lock:
            ignore = faults.get("ignore_range")
        if rng and not ignore and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                return self.send(416, b"", [("Content-Range", f"bytes */{len(data)}")], ctype="text/plain")
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if self.command == "HEAD":
            return
        with lock:
            cut = faults.get("cut") == name and int(faults.get("cut_times", "1")) > 0
            if cut:
                faults["cut_times"] = str(int(faults.get("cut_times", "1")) - 1)
                cut_at = int(faults.get("cut_at", "0"))
        if cut:
            self.wfile.write(body[:cut_at])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # drop the connection in the middle of the body
            return
        self.wfile.write(body)


def main():
    hub = ThreadingHTTPServer((ADDRESS, 0), Hub)
    cdn = ThreadingHTTPServer((ADDRESS, 0), Cdn)
    hub.daemon_threads = cdn.daemon_threads = True
    global CDN_PORT
    CDN_PORT = cdn.server_address[1]
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write(f"{hub.server_address[1]} {cdn.server_address[1]}\n")
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    hub.serve_forever()


if __name__ == "__main__":
    main()
