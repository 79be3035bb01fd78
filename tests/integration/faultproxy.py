#!/usr/bin/env python3
"""faultproxy: a fault-injecting HTTP reverse proxy for the mlops integration tests.

THIS IS A FAULT INJECTOR, THE ONLY STAND-IN ALLOWED IN THE INTEGRATION TESTS. It sits in front
of a REAL MLflow server and forwards every request to it unchanged; the only answers it makes
up itself are the faults listed below. It never imitates an MLflow API.

Usage:
    faultproxy.py --upstream http://127.0.0.1:PORT --port 0 --port-file FILE --mode MODE
                  [--stats-file FILE] [--verbose]

Binds 127.0.0.1:--port (0 = let the kernel choose) and writes the bound port to --port-file
(atomically, once listening). Modes:

    passthrough   forward everything
    503:N         the first N requests get 503 (Retry-After: 0, MLflow-style JSON error body);
                  everything after that is forwarded
    truncate:N    the first N responses to GET requests whose path contains
                  /mlflow-artifacts/artifacts/ and whose body is > 1 KiB are sent with the
                  correct Content-Length but the connection is closed after half the body;
                  later ones are forwarded intact
    close         every connection is accepted and closed at once, without a response
    slow:BPS      artifact download bodies (GET .../mlflow-artifacts/artifacts/...) are sent at
                  about BPS bytes per second per connection; everything else is forwarded
    refuse-patch  every PATCH gets 405 (a registry that takes no chunked uploads, like GAR)
    429:N         the first N requests get 429 with Retry-After: 1 (a rate-limited registry)
    slowup:BPS    request bodies (uploads) are read at about BPS bytes per second
    cutpatch:N    the N-th PATCH and the one after it (libcurl resends a request once by itself
                  when a reused connection dies) are cut off: half the body is read, then the
                  connection is closed without an answer; nothing reaches the registry
    evil:PATH     the first artifact directory listing (GET .../mlflow-artifacts/artifacts?path=)
                  gets an extra file entry named PATH (e.g. ../../escaped.txt): a hostile server
    fail:PATH     every request whose path ends with PATH gets 503 (e.g. the alias endpoint
                  /registered-models/alias, to fail one step of a promotion); the rest is forwarded
    holdpatch:N   the N-th PATCH (an upload chunk) is read whole but neither forwarded nor
                  answered until the upstream stops taking connections (the test kills the real
                  registry meanwhile: FILE.held appears beside --stats-file FILE when the chunk
                  is held), then its connection is closed: a registry that died between two
                  chunks, with every earlier chunk stored
    stall:N       the first N GETs of registry blobs or manifests (/v2/.../blobs/ or /manifests/)
                  get their status line, headers and 16 bytes of body, then nothing more: the
                  connection is held open without a byte until the client gives up
    truncblob:N   the first N GETs of registry blobs or manifests are cut off after half their
                  body (correct Content-Length, then the connection is closed)
    oversize:WHAT WHAT=manifests: registry manifests are answered padded with spaces past 4 MiB
                  (still the same JSON); WHAT=blobs: blobs are answered with 1 MiB of zeros more
                  than they hold (Content-Length to match): answers bigger than their limit or
                  their descriptor
    cutbody:PATH  every 200 answer to a request whose path ends with PATH (with the query, when
                  PATH has a '?')
                  (e.g. info/refs?service=git-upload-pack, a git server's refs) is sent with the
                  server's status, headers and the right Content-Length, but the connection is
                  closed (FIN) after half the body: a truncated answer
    resetbody:PATH  the same, but the connection is reset (RST) after half the body
    stallbody:PATH  the same, but after half the body nothing more is sent: the connection stays
                  open (up to 600 s) until the client gives up
    hugerefs:PATH a git refs advertisement (the 200 answer at PATH, e.g. info/refs) that never
                  ends: after the server's own first ref line come made-up ref lines (pkt-line
                  format, the server's first object id) until the client hangs up or 256 MiB (enough to
                  pass any sane limit, little enough not to harm a client without one)
    429:N:SECS    as 429:N with Retry-After: SECS
    5xx:N         the first N requests get 500, 502, 503, 504 in turn (a 5xx storm), Retry-After: 0
    rewrite:SUFFIX:KEY=JSON
                  the JSON answers (200) of requests whose path ends with SUFFIX get KEY set to
                  JSON; KEY is a dotted path (model_version.version, files.0.file_size);
                  KEY+=JSON appends JSON to the list at KEY; JSON may be @FILE (read from FILE,
                  inserted as text): a hostile server lying about one field
    trickle:BPS   like slow:BPS, in pieces of BPS/20 bytes (at least 1), for rates far below 1 KiB/s
    endless       artifact download bodies (GET .../mlflow-artifacts/artifacts/...) are sent
                  chunked, the real bytes followed by zeros without end (until the client
                  closes or 2 GiB): a server ignoring the listed size
    reset:N       the first N artifact download bodies > 1 KiB: half of the body, then a TCP
                  reset (SO_LINGER 0) instead of an orderly close

    norange       the Range header of every request is dropped before it is forwarded: a server
                  that ignores Range and answers every GET with the whole body (200)

Every mode counts "patch_bytes": request-body bytes of PATCHes forwarded to the upstream, and
"range_requests" / "partial_206": requests that carried a Range header / answers with 206.

Forwarding keeps method, path, query, headers (Authorization included; hop-by-hop headers are
dropped, Host is set to the upstream and the client's Host goes in X-Forwarded-Host, so a
registry writes upload Locations that point back at the proxy) and body. Bodies are streamed both ways in 64 KiB
pieces, so large artifacts never sit in memory. Upstream responses without Content-Length are
re-chunked for HTTP/1.1 clients.

On SIGTERM/SIGINT it stops and prints one line to stderr:
    faultproxy: stats {"mode": ..., "requests": ..., "forwarded": ..., "injected_503": ...,
                       "truncated": ..., "closed": ..., "upstream_errors": ...}
and writes the same JSON to --stats-file if given.

--tls-cert/--tls-key make it terminate TLS (HTTPS in front of the plain real server), for the
TLS verification tests.

Stdlib only (http.server + http.client).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024
TRUNCATE_MIN_BODY = 1024
ARTIFACT_PATH_MARK = "/mlflow-artifacts/artifacts/"
UPSTREAM_TIMEOUT = 600

# RFC 9110 7.6.1 hop-by-hop headers, plus the ones this proxy manages itself.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "host",
}


class Faults:
    """Mode, counters and the decisions that need them (thread-safe)."""

    def __init__(self, mode: str):
        self.mode_text = mode
        name, _, arg = mode.partition(":")
        if name in ("passthrough", "close", "refuse-patch", "norange") and not arg:
            self.kind, self.n = name, 0
        elif name in ("503", "429", "truncate", "slow", "slowup", "cutpatch", "5xx", "trickle", "reset") \
                and arg.isdigit():
            self.kind, self.n = name, int(arg)
        elif name == "429" and arg.count(":") == 1 and all(p.isdigit() for p in arg.split(":")):
            self.kind, self.n = name, int(arg.split(":")[0])
            self.retry_after = arg.split(":")[1]
        elif name == "endless" and not arg:
            self.kind, self.n = name, 0
        elif name == "rewrite" and ":" in arg and "=" in arg:
            self.kind, self.n = name, 0
            self.rewrite_suffix, _, assign = arg.partition(":")
            key, _, value = assign.partition("=")
            if value.startswith("@"):
                with open(value[1:]) as f:
                    value = f.read()
            json.loads(value) if len(value) < 10000 else None  # a typo fails here, not in a test
            self.rewrite_append = key.endswith("+")
            self.rewrite_key = key.rstrip("+").split(".")
            # Inserted as text, not parsed: values nested 100k deep are beyond Python's json.
            self.rewrite_raw = value
        elif name == "evil" and arg:
            self.kind, self.n, self.evil_path = name, 1, arg
        elif name == "fail" and arg:
            self.kind, self.n, self.fail_path = name, 0, arg
        elif name in ("holdpatch", "stall", "truncblob") and arg.isdigit():
            self.kind, self.n = name, int(arg)
        elif name == "oversize" and arg in ("manifests", "blobs"):
            self.kind, self.n, self.oversize = name, 0, arg
        elif name in ("cutbody", "resetbody", "stallbody", "hugerefs") and arg:
            self.kind, self.n, self.fail_path = name, 0, arg
        else:
            raise ValueError(f"bad --mode {mode!r} (passthrough, 503:N, 429:N[:SECS], 5xx:N, truncate:N, close, "
                             "slow:BPS, trickle:BPS, slowup:BPS, cutpatch:N, refuse-patch, evil:PATH, fail:PATH, "
                             "rewrite:SUFFIX:KEY=JSON, endless, reset:N, holdpatch:N, stall:N, truncblob:N, "
                             "oversize:manifests|blobs, cutbody:PATH, resetbody:PATH, stallbody:PATH, hugerefs:PATH, norange)")
        if not hasattr(self, "retry_after"):
            self.retry_after = "1"
        self.lock = threading.Lock()
        self.stats = {
            "requests": 0,
            "forwarded": 0,
            "injected_503": 0,
            "truncated": 0,
            "closed": 0,
            "upstream_errors": 0,
            "slowed": 0,
            "evil_listings": 0,
            "injected_429": 0,
            "refused_patch": 0,
            "patch": 0,
            "cut_patch": 0,
            "put": 0,
            "patch_bytes": 0,
            "held_patch": 0,
            "stalled": 0,
            "truncated_blob": 0,
            "oversized": 0,
            "body_faults": 0,
            "huge_bytes": 0,
            "injected_5xx": 0,
            "rewritten": 0,
            "endless": 0,
            "reset": 0,
            "range_requests": 0,
            "partial_206": 0,
        }

    def count(self, key: str) -> None:
        with self.lock:
            self.stats[key] += 1

    def take(self, kind: str, counter: str) -> bool:
        """True (and counted) while mode `kind` has injections left."""
        with self.lock:
            if self.kind == kind and self.stats[counter] < self.n:
                self.stats[counter] += 1
                return True
            return False

    def take_503(self, path: str) -> bool:
        self.count("requests")
        if self.kind == "fail" and path.split("?", 1)[0].endswith(self.fail_path):
            self.count("injected_503")
            return True
        return self.take("503", "injected_503")

    def take_429(self) -> bool:
        return self.take("429", "injected_429")

    def take_truncate(self) -> bool:
        return self.take("truncate", "truncated")

    def take_evil(self) -> bool:
        return self.take("evil", "evil_listings")

    def add(self, key: str, n: int) -> None:
        with self.lock:
            self.stats[key] += n
    def take_5xx(self) -> int | None:
        """The status of the next injected 5xx, or None."""
        if self.take("5xx", "injected_5xx"):
            return (500, 502, 503, 504)[(self.stats["injected_5xx"] - 1) % 4]
        return None

    RAW = "\u0000faultproxy-raw\u0000"

    def rewrite(self, doc) -> bytes:
        """The JSON document with the configured key set (or appended to)."""
        node = doc
        for part in self.rewrite_key[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = self.rewrite_key[-1]
        if self.rewrite_append:
            (node[int(last)] if isinstance(node, list) else node.setdefault(last, [])).append(self.RAW)
        elif isinstance(node, list):
            node[int(last)] = self.RAW
        else:
            node[last] = self.RAW
        self.count("rewritten")
        return json.dumps(doc).replace(json.dumps(self.RAW), self.rewrite_raw).encode()

    def snapshot(self) -> dict:
        with self.lock:
            return {"mode": self.mode_text, **self.stats}


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"
    timeout = UPSTREAM_TIMEOUT  # idle client sockets
    faults: Faults
    upstream: tuple[str, int]
    verbose = False
    stats_file: str | None = None

    # ------------------------------------------------------------------ plumbing

    def log_message(self, fmt, *args):  # noqa: N802 - stdlib name
        if self.verbose:
            sys.stderr.write("faultproxy: %s %s\n" % (self.address_string(), fmt % args))

    def handle(self):
        if self.faults.kind == "close":
            self.faults.count("closed")
            self.faults.count("requests")
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True
            return
        try:
            super().handle()
        except (ConnectionError, socket.timeout, BrokenPipeError):
            self.close_connection = True

    def do_GET(self):  # noqa: N802
        self.proxy()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # ------------------------------------------------------------------ request body

    def request_body_chunks(self):
        """Yield the client's request body in pieces (Content-Length or chunked)."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer section up to the empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                remaining = size
                while remaining:
                    data = self.rfile.read(min(remaining, CHUNK))
                    if not data:
                        raise ConnectionError("client closed mid-body")
                    remaining -= len(data)
                    yield data
                self.rfile.readline(3)  # CRLF after the chunk
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                data = self.rfile.read(min(remaining, CHUNK))
                if not data:
                    raise ConnectionError("client closed mid-body")
                remaining -= len(data)
                yield data

    def request_body(self):
        """request_body_chunks(), read at --mode slowup's rate."""
        rate = self.faults.n if self.faults.kind == "slowup" else None
        start, sent = time.monotonic(), 0
        for data in self.request_body_chunks():
            sent += len(data)
            if rate:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            yield data

    def body_is_chunked(self) -> bool:
        return "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()

    # ------------------------------------------------------------------ responses we make up

    def send_simple(self, status: int, body: dict, extra_headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    # ------------------------------------------------------------------ the proxy

    def proxy(self):
        if self.command in ("PATCH", "PUT"):
            self.faults.count(self.command.lower())
        if (self.faults.kind == "cutpatch" and self.command == "PATCH"
                and self.faults.snapshot()["patch"] in (self.faults.n, self.faults.n + 1)):
            return self.cut_patch()
        if (self.faults.kind == "holdpatch" and self.command == "PATCH"
                and self.faults.snapshot()["patch"] == self.faults.n):
            return self.hold_patch()
        if self.faults.kind == "refuse-patch" and self.command == "PATCH":
            for _ in self.request_body_chunks():
                pass
            self.faults.count("refused_patch")
            self.send_simple(405, {"errors": [{"code": "UNSUPPORTED", "message": "injected by faultproxy"}]})
            return
        if self.faults.take_429():
            for _ in self.request_body_chunks():
                pass
            self.faults.count("requests")
            self.send_simple(429, {"errors": [{"code": "TOOMANYREQUESTS", "message": "injected by faultproxy"}]},
                             [("Retry-After", self.faults.retry_after)])
            return
        status = self.faults.take_5xx()
        if status:
            for _ in self.request_body_chunks():
                pass
            self.faults.count("requests")
            self.send_simple(status, {"error_code": "INTERNAL_ERROR", "message": "injected by faultproxy"},
                             [("Retry-After", "0")])
            return
        if self.faults.take_503(self.path):
            for _ in self.request_body_chunks():  # drain so the connection stays usable
                pass
            self.send_simple(
                503,
                {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "injected by faultproxy"},
                [("Retry-After", "0")],
            )
            return

        has_range = self.headers.get("Range") is not None
        if has_range:
            self.faults.count("range_requests")
        host, port = self.upstream
        conn = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT)
        try:
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                conn.putheader("Host", f"{host}:{port}")
                if self.headers.get("Host"):
                    conn.putheader("X-Forwarded-Host", self.headers["Host"])
                for k, v in self.headers.items():
                    if k.lower() not in HOP_BY_HOP and not (k.lower() == "range" and self.faults.kind == "norange"):
                        conn.putheader(k, v)
                chunked = self.body_is_chunked()
                if chunked:
                    conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                try:
                    for data in self.request_body():
                        if self.command == "PATCH":
                            self.faults.add("patch_bytes", len(data))
                        if chunked:
                            conn.send(b"%x\r\n%s\r\n" % (len(data), data))
                        else:
                            conn.send(data)
                    if chunked:
                        conn.send(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    # The server answered before taking the whole body (e.g. 401 for an
                    # expired token) and closed: relay that answer, then close.
                    self.close_connection = True
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                self.faults.count("upstream_errors")
                self.close_connection = True
                self.send_simple(
                    502,
                    {"error_code": "BAD_GATEWAY", "message": f"faultproxy: upstream error: {e}"},
                    [("Connection", "close")],
                )
                return
            self.relay_response(resp)
        finally:
            conn.close()

    def cut_patch(self):
        """Reads half of this PATCH's body, then drops the connection without an answer."""
        self.faults.count("cut_patch")
        want = int(self.headers.get("Content-Length") or 0) // 2
        got = 0
        for data in self.request_body_chunks():
            got += len(data)
            if got >= want:
                break
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def hold_patch(self):
        """Reads this PATCH whole, waits until the upstream is gone, then drops the connection."""
        self.faults.count("held_patch")
        for _ in self.request_body_chunks():
            pass
        if self.stats_file:  # tells the test that the chunk is held: kill the upstream now
            with open(f"{self.stats_file}.held", "w") as f:
                f.write("held\n")
        host, port = self.upstream
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.1)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def is_registry_get(self) -> bool:
        path = urllib.parse.urlsplit(self.path).path
        return self.command == "GET" and path.startswith("/v2/") and ("/blobs/sha256:" in path or "/manifests/" in path)

    def relay_registry_fault(self, resp: http.client.HTTPResponse) -> bool:
        """--mode stall, truncblob and oversize on registry GETs; True when it answered."""
        kind = self.faults.kind
        if resp.status != 200 or not self.is_registry_get():
            return False
        manifest = "/manifests/" in self.path
        if kind == "oversize" and manifest != (self.faults.oversize == "manifests"):
            return False
        if kind == "oversize":
            body = resp.read()
            if manifest:
                body = body + b" " * ((4 << 20) + 1 - len(body))
            else:
                body = body + b"\0" * (1 << 20)
            self.faults.count("oversized")
        elif (kind == "stall" and self.faults.take("stall", "stalled")) or \
                (kind == "truncblob" and self.faults.take("truncblob", "truncated_blob")):
            body = resp.read()
        else:
            return False
        self.send_response_only(200, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "oversize":
            self.wfile.write(body)
            return True
        self.wfile.write(body[:16] if kind == "stall" else body[:len(body) // 2])
        self.wfile.flush()
        if kind == "stall":
            time.sleep(120)  # the client's timeout ends it first
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return True

    def relay_evil_listing(self, resp: http.client.HTTPResponse) -> bool:
        """Adds a hostile entry to an artifact listing; True when it answered."""
        split = urllib.parse.urlsplit(self.path)
        if not (self.command == "GET" and split.path.endswith(ARTIFACT_PATH_MARK.rstrip("/"))
                and resp.status == 200 and self.faults.take_evil()):
            return False
        listing = json.loads(resp.read() or b"{}")
        listing.setdefault("files", []).append({"path": self.faults.evil_path, "is_dir": False, "file_size": 6})
        self.send_simple(200, listing)
        return True

    def body_fault_target(self, resp: http.client.HTTPResponse) -> bool:
        """True when this answer is one that the body-fault modes act on."""
        if self.faults.kind not in ("cutbody", "resetbody", "stallbody", "hugerefs") or resp.status != 200:
            return False
        want = self.faults.fail_path
        return self.path.endswith(want) if "?" in want else self.path.split("?", 1)[0].endswith(want)

    def relay_body_fault(self, resp: http.client.HTTPResponse) -> None:
        """cutbody, resetbody, stallbody: half the body, then FIN, RST or silence."""
        body = resp.read()
        self.faults.count("body_faults")
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        if self.faults.kind == "stallbody":
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                # Ends when the client hangs up (readable with EOF) or the proxy stops.
                try:
                    self.connection.settimeout(0.5)
                    if self.connection.recv(1024) == b"":
                        break
                except socket.timeout:
                    continue
                except OSError:
                    break
            return
        if self.faults.kind == "resetbody":
            import struct
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def relay_huge_refs(self, resp: http.client.HTTPResponse) -> None:
        """hugerefs: the server's service line and first ref, then endless made-up refs."""
        body = resp.read()
        self.faults.count("body_faults")
        pkts, i = [], 0
        while i + 4 <= len(body) and len(pkts) < 3:
            size = int(body[i:i + 4], 16)
            pkts.append(body[i:i + max(size, 4)])
            i += max(size, 4)
        # pkts: "# service=...", flush "0000", first ref line (with capabilities).
        oid = pkts[2][4:44].decode() if len(pkts) > 2 and len(pkts[2]) >= 44 else "0" * 40
        self.send_response_only(200, "OK")
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        sent = 0
        try:
            self.wfile.write(b"".join(pkts))
            n = 0
            while sent < (256 << 20):
                lines = []
                for _ in range(4096):
                    line = f"{oid} refs/heads/made-up-{n:010d}\n".encode()
                    lines.append(b"%04x%s" % (len(line) + 4, line))
                    n += 1
                block = b"".join(lines)
                self.wfile.write(block)
                sent += len(block)
        except OSError:
            pass
        with self.faults.lock:
            self.faults.stats["huge_bytes"] += sent
    def relay_rewritten(self, resp: http.client.HTTPResponse) -> bool:
        """Answers with one field of the real JSON answer changed; True when it answered."""
        split = urllib.parse.urlsplit(self.path)
        if not (split.path.endswith(self.faults.rewrite_suffix) and resp.status == 200
                and "json" in (resp.getheader("Content-Type") or "")):
            return False
        data = self.faults.rewrite(json.loads(resp.read() or b"{}"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return True

    def relay_endless(self, resp: http.client.HTTPResponse) -> bool:
        """Sends an artifact's real bytes, then zeros until the client gives up."""
        if not (self.command == "GET" and ARTIFACT_PATH_MARK in urllib.parse.urlsplit(self.path).path
                and resp.status == 200):
            return False
        self.faults.count("endless")
        self.send_response_only(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        sent, zeros = 0, bytes(CHUNK)
        try:
            for data in iter(lambda: resp.read(CHUNK), b""):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            while sent < 2 << 30:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(zeros), zeros))
                sent += len(zeros)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return True

    def relay_reset(self, resp: http.client.HTTPResponse, length: int | None) -> bool:
        """Half of an artifact body, then a TCP reset; True when it answered."""
        if not (self.command == "GET" and ARTIFACT_PATH_MARK in urllib.parse.urlsplit(self.path).path
                and resp.status == 200 and length is not None and length > TRUNCATE_MIN_BODY
                and self.faults.take("reset", "reset")):
            return False
        self.send_response_only(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.copy_body(resp, limit=length // 2)
        self.wfile.flush()
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        return True

    def relay_response(self, resp: http.client.HTTPResponse):
        if resp.status == 206:
            self.faults.count("partial_206")
        if self.faults.kind == "evil" and self.relay_evil_listing(resp):
            return
        if self.faults.kind in ("stall", "truncblob", "oversize") and self.relay_registry_fault(resp):
            return
        if self.body_fault_target(resp):
            return self.relay_huge_refs(resp) if self.faults.kind == "hugerefs" else self.relay_body_fault(resp)
        if self.faults.kind == "rewrite" and self.relay_rewritten(resp):
            return
        if self.faults.kind == "endless" and self.relay_endless(resp):
            return
        if self.faults.kind == "reset":
            length_hdr = resp.getheader("Content-Length")
            if self.relay_reset(resp, int(length_hdr) if length_hdr and length_hdr.isdigit() else None):
                return
        length_hdr = resp.getheader("Content-Length")
        length = int(length_hdr) if length_hdr and length_hdr.isdigit() else None
        no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200

        truncate = (
            not no_body
            and self.command == "GET"
            and ARTIFACT_PATH_MARK in urllib.parse.urlsplit(self.path).path
            and length is not None
            and length > TRUNCATE_MIN_BODY
            and self.faults.take_truncate()
        )
        if not truncate:
            self.faults.count("forwarded")

        rechunk = not no_body and length is None and self.request_version == "HTTP/1.1"
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        if rechunk:
            self.send_header("Transfer-Encoding", "chunked")
        elif not no_body and length is None:
            self.send_header("Connection", "close")  # body delimited by close
            self.close_connection = True
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()

        if no_body:
            resp.read()
            return
        if truncate:
            self.copy_body(resp, limit=length // 2)
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        slow = (self.faults.kind in ("slow", "trickle") and self.command == "GET"
                and ARTIFACT_PATH_MARK in urllib.parse.urlsplit(self.path).path)
        if slow:
            self.faults.count("slowed")
        self.copy_body(resp, rechunk=rechunk, rate=self.faults.n if slow else None)

    def copy_body(self, resp, limit: int | None = None, rechunk: bool = False, rate: int | None = None):
        sent = 0
        start = time.monotonic()
        floor = 1 if self.faults.kind == "trickle" else 1024
        piece = CHUNK if rate is None else max(floor, min(CHUNK, rate // 20))
        while limit is None or sent < limit:
            want = piece if limit is None else min(piece, limit - sent)
            data = resp.read(want)
            if not data:
                break
            if rechunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.wfile.write(data)
            sent += len(data)
            if rate:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        if rechunk:
            self.wfile.write(b"0\r\n\r\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main() -> int:
    ap = argparse.ArgumentParser(description="fault-injecting reverse proxy (see module doc)")
    ap.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of the real server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--mode", default="passthrough")
    ap.add_argument("--stats-file")
    ap.add_argument("--verbose", action="store_true", help="log each request to stderr")
    ap.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (and --tls-key)")
    ap.add_argument("--tls-key")
    args = ap.parse_args()

    up = urllib.parse.urlsplit(args.upstream)
    if up.scheme != "http" or not up.hostname:
        ap.error("--upstream must be http://HOST:PORT")
    try:
        faults = Faults(args.mode)
    except ValueError as e:
        ap.error(str(e))

    ProxyHandler.faults = faults
    ProxyHandler.upstream = (up.hostname, up.port or 80)
    ProxyHandler.verbose = args.verbose
    ProxyHandler.stats_file = args.stats_file
    server = Server(("127.0.0.1", args.port), ProxyHandler)
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]

    tmp = f"{args.port_file}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, args.port_file)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.daemon = True
    thread.start()
    print(
        f"faultproxy: listening on 127.0.0.1:{port} -> {args.upstream} mode={args.mode}",
        file=sys.stderr,
        flush=True,
    )
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    stats = faults.snapshot()
    print(f"faultproxy: stats {json.dumps(stats)}", file=sys.stderr, flush=True)
    if args.stats_file:
        with open(args.stats_file, "w") as f:
            json.dump(stats, f)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
