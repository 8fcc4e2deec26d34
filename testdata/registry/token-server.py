#!/usr/bin/env python3
"""A small token server for the registry's `token` auth (the Bearer flow), for the interop tests.

    token-server.py --port-file FILE --log FILE --key KEY.pem --cert CERT.pem
                    --issuer ISSUER --service SERVICE [--user USER:PASS]... [--anonymous pull|none]
                    [--expires-in SECONDS]

Listens on 127.0.0.1 and a port the kernel picks, then writes that port to --port-file (renamed into
place, so a reader never sees half of it). Any path is the realm: GET with `service`, `scope`
(repeatable) and Basic credentials, as docker and skopeo ask; POST with a form (`grant_type=password`
or `refresh_token`, `service`, `scope` space-separated), as the OAuth2 flow asks.

Known users with their password get every action they ask for; a wrong password gets 401 (even where
anonymous tokens are given); no credentials get pull-only tokens with `--anonymous pull` (other
actions and non-repository scopes are dropped from the token, as real token servers do) and 401 with
`--anonymous none`. A `service` other than --service gets 400.

Tokens are RS256 JWTs with the signing certificate in the `x5c` header, which Distribution 2.8
verifies against its `rootcertbundle` (registry/auth/token/token.go, parseAndVerifyCertChain); the
signature comes from `openssl dgst`, so only the standard library and the openssl tool are needed.

Each request is one JSON line in --log: method, path, service, scopes, account (null when anonymous),
status, granted (the token's access list), so a test can assert which scopes were asked.
"""
import argparse
import base64
import datetime
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def certificate_der_b64(path):
    """The first certificate of a PEM file, as standard base64 of its DER (what x5c holds)."""
    lines, inside = [], False
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line == "-----BEGIN CERTIFICATE-----":
                inside = True
            elif line == "-----END CERTIFICATE-----":
                break
            elif inside:
                lines.append(line)
    if not lines:
        sys.exit("token-server: no certificate in %s" % path)
    return "".join(lines)


def parse_scope(scope):
    """`repository:NAME:pull,push` → (type, name, actions); a name may hold ':' (a host with a port)."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return kind, name, [a for a in actions.split(",") if a]


class Server:
    def __init__(self, args):
        self.args = args
        self.users = dict(u.split(":", 1) for u in args.user)
        self.x5c = [certificate_der_b64(args.cert)]
        self.log_lock = threading.Lock()
        self.refresh_tokens = {}

    def sign(self, payload):
        header = {"typ": "JWT", "alg": "RS256", "x5c": self.x5c}
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", self.args.key],
            input=signing_input.encode(), capture_output=True, check=True).stdout
        return signing_input + "." + b64url(signature)

    def grant(self, scopes, account):
        access = []
        for scope in scopes:
            kind, name, actions = parse_scope(scope)
            if account is None:
                if kind != "repository":
                    continue
                actions = [a for a in actions if a == "pull"]
            if actions:
                access.append({"type": kind, "name": name, "actions": actions})
        return access

    def log(self, entry):
        with self.log_lock, open(self.args.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state = None  # set in main

    def log_message(self, format, *args):  # the JSON log is the record; stderr stays quiet
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        account, password = None, None
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                account, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return self.answer(url.path, query, None, 400, {"error": "bad Authorization header"})
        self.respond(url.path, query.get("service", [""])[0], query.get("scope", []), account, password)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        field = lambda k: form.get(k, [""])[0]
        scopes = field("scope").split()
        grant_type = field("grant_type")
        if grant_type == "password":
            account, password = field("username"), field("password")
        elif grant_type == "refresh_token":
            account = self.server_state.refresh_tokens.get(field("refresh_token"))
            if account is None:
                return self.answer(url.path, form, None, 401, {"error": "unknown refresh token"},
                                   service=field("service"), scopes=scopes)
            password = self.server_state.users.get(account)
        else:
            return self.answer(url.path, form, None, 400, {"error": "unsupported grant_type"},
                               service=field("service"), scopes=scopes)
        self.respond(url.path, field("service"), scopes, account, password, refresh=True)

    def respond(self, path, service, scopes, account, password, refresh=False):
        state = self.server_state
        if service and service != state.args.service:
            return self.answer(path, None, account, 400, {"error": "unknown service %r" % service},
                               service=service, scopes=scopes)
        if account is not None and state.users.get(account) != password:
            return self.answer(path, None, account, 401, {"error": "wrong credentials"},
                               service=service, scopes=scopes)
        if account is None and state.args.anonymous == "none":
            return self.answer(path, None, None, 401, {"error": "credentials required"},
                               service=service, scopes=scopes)
        now = int(time.time())
        access = state.grant(scopes, account)
        token = state.sign({
            "iss": state.args.issuer, "sub": account or "", "aud": state.args.service,
            "exp": now + state.args.expires_in, "nbf": now - 10, "iat": now,
            "jti": uuid.uuid4().hex, "access": access,
        })
        body = {
            "token": token, "access_token": token, "expires_in": state.args.expires_in,
            "issued_at": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if refresh and account is not None:
            refresh_token = uuid.uuid4().hex
            state.refresh_tokens[refresh_token] = account
            body["refresh_token"] = refresh_token
        self.answer(path, None, account, 200, body, service=service, scopes=scopes, granted=access)

    def answer(self, path, _query, account, status, body, service="", scopes=(), granted=()):
        self.server_state.log({
            "method": self.command, "path": path, "service": service, "scopes": list(scopes),
            "account": account, "status": status, "granted": list(granted),
        })
        data = json.dumps(body).encode()
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="bale-test-token"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--service", required=True)
    p.add_argument("--user", action="append", default=[])
    p.add_argument("--anonymous", choices=["pull", "none"], default="pull")
    p.add_argument("--expires-in", type=int, default=300)
    args = p.parse_args()
    Handler.server_state = Server(args)
    open(args.log, "a").close()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(httpd.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
