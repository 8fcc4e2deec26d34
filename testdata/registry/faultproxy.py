#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of a registry, for bale's pull tests (loopback only).

    faultproxy.py UPSTREAM PORTFILE LOGFILE MODE

Listens on 127.0.0.1 and a free port (written to PORTFILE once it listens), forwards GET and HEAD to
UPSTREAM (http://127.0.0.1:PORT), and logs one line per request to LOGFILE: METHOD PATH RANGE.
MODE says what goes wrong:

    (Blob faults apply to blobs over 64 KiB, the layers.)
    cut           the first GET of each blob without a Range header sends its headers (the full
                  Content-Length) and half of the body, then closes the connection; later requests
                  (ranged or not) pass through. Bale must resume with Range: bytes=N-.
    corrupt       blob bodies have their middle byte flipped (same length).
    manifest      manifest bodies get a trailing space; the registry's Docker-Content-Digest is kept.
    endless       blob bodies are the real bytes, then zeros forever, without Content-Length.
    cut-upload    the first PATCH of an upload reaches the registry with only half of its body
                  (then both connections close): the registry cannot resume that session, so
                  bale must send the blob again, from its source, in a new one.
    refuse-upload every PATCH is answered 413 with the registry's JSON error at once, its body unread,
                  and the connection is then held open: bale must stop sending and report the answer.
    redirect-loop blob GETs are answered 307 to the same URL, again and again.
    unauthorized  every API request is answered 401 with a Bearer challenge whose realm is this proxy's
                  /token, which hands out a token that the next request refuses again (a 401 after
                  the token).
    slow          nothing goes wrong, but each layer GET is answered only after 0.5 s, and its log
                  line ends with how many layer GETs were in flight when it began (inflight=N): a
                  client that fetches side by side shows N > 1.
    pass          nothing goes wrong.

Every method is forwarded with the client's Host header, so the registry's Location URLs point back
at the proxy.
"""

import http.client
import http.server
import os
import socketserver
import sys
import threading

UPSTREAM, PORTFILE, LOGFILE, MODE = sys.argv[1:5]
upstream_host = UPSTREAM.split("//", 1)[1]
cut_done = set()
lock = threading.Lock()
inflight = 0


def log(line):
    with lock, open(LOGFILE, "a") as f:
        f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.forward(head=True)

    def do_GET(self):
        self.forward(head=False)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def slow(self, rng):
        # Configs are small: the count is of layers (asked of the registry first, by HEAD).
        conn = http.client.HTTPConnection(upstream_host, timeout=60)
        conn.request("HEAD", self.path, headers={"Host": self.headers.get("Host", upstream_host)})
        layer = int(conn.getresponse().getheader("Content-Length") or "0") > 65536
        conn.close()
        global inflight
        with lock:
            inflight += layer
            now = inflight
        log(f"{self.command} {self.path} {rng or '-'}" + (f" inflight={now}" if layer else ""))
        try:
            if layer:
                threading.Event().wait(0.5)
            self.forward_plain()
        finally:
            with lock:
                inflight -= layer

    def forward_plain(self):
        conn = http.client.HTTPConnection(upstream_host, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        conn.request(self.command, self.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply(self, status, body, headers):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, head):
        rng = self.headers.get("Range")
        if MODE == "slow" and self.command == "GET" and "/blobs/sha256:" in self.path:
            self.slow(rng)
            return
        log(f"{self.command} {self.path} {rng or '-'}")
        if MODE == "refuse-upload" and self.command == "PATCH":
            # Answered at once, the body unread; the connection then stays open, silent, for a while
            # (a client that waits to send its whole body before it reads the answer would hang).
            self.reply(413, b'{"errors":[{"code":"SIZE_INVALID","message":"blob over the quota of this registry"}]}',
                       [("Content-Type", "application/json")])
            threading.Event().wait(20)
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or "0")
        sent = self.rfile.read(length) if length else None
        if MODE == "unauthorized":
            host = self.headers.get("Host")
            if self.path.startswith("/token"):
                self.reply(200, b'{"token": "refused-anyway", "expires_in": 300}', [("Content-Type", "application/json")])
            else:
                challenge = f'Bearer realm="http://{host}/token",service="faultproxy",scope="repository:app:pull"'
                self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                           [("WWW-Authenticate", challenge), ("Content-Type", "application/json")])
            return
        conn = http.client.HTTPConnection(upstream_host, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        if self.command == "PATCH" and MODE == "cut-upload" and sent:
            with lock:
                first = "patch" not in cut_done
                cut_done.add("patch")
            if first:
                conn.putrequest("PATCH", self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers.items():
                    conn.putheader(k, v)
                conn.endheaders()
                conn.send(sent[: len(sent) // 2])
                conn.sock.shutdown(2)
                conn.close()
                self.close_connection = True
                self.connection.shutdown(2)
                return
        conn.request(self.command, self.path, body=sent, headers=headers)
        resp = conn.getresponse()
        body = b"" if head else resp.read()
        # Layers only (configs are small): the faults hit the blob a test names.
        is_blob = "/blobs/sha256:" in self.path and resp.status in (200, 206) and \
            int(resp.getheader("Content-Length") or "0") > 65536
        is_manifest = "/manifests/" in self.path and resp.status == 200
        out_headers = [(k, v) for k, v in resp.getheaders()
                       if k.lower() not in ("content-length", "connection", "transfer-encoding")]
        if head:
            self.send_response(resp.status)
            for k, v in out_headers:
                self.send_header(k, v)
            self.send_header("Content-Length", resp.getheader("Content-Length") or "0")
            self.end_headers()
            return
        if is_blob and MODE == "cut" and rng is None:
            with lock:
                first = self.path not in cut_done
                cut_done.add(self.path)
            if first:
                self.send_response(resp.status)
                for k, v in out_headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
        if is_blob and MODE == "redirect-loop":
            self.reply(307, b"", [("Location", self.path)])
            return
        if is_blob and MODE == "corrupt" and body:
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1:]
        if is_manifest and MODE == "manifest":
            body = body + b" "
        if is_blob and MODE == "endless":
            self.send_response(resp.status)
            for k, v in out_headers:
                self.send_header(k, v)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(body)
                for _ in range(100000):
                    self.wfile.write(b"\0" * 65536)
            except OSError:
                pass
            return
        self.send_response(resp.status)
        for k, v in out_headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


server = Server(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
