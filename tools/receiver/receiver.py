#!/usr/bin/env python3
"""A webhook receiver for Aftersale's delivery tests: checks Standard Webhooks signatures with its
own code (not Aftersale's), answers as its mode says, and logs one JSON line per request.

    RECEIVER_SECRET=whsec_... python3 tools/receiver/receiver.py --port 0 --secret-env RECEIVER_SECRET \
        --log received.ndjson [--mode accept|fail-first|gone|slow] [--delay-ms N]

Prints "listening on PORT" once it listens on 127.0.0.1. The secret comes from the environment
variable named by --secret-env, never from the command line.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify(key, msg_id, timestamp, body, header):
    """True when one of the header's v1 signatures is HMAC-SHA256 of "id.timestamp.body" and the
    timestamp is within 300 s of this machine's clock."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - ts) > 300:
        return False
    # The signed content holds the header as sent, not the number read from it.
    content = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    for entry in (header or "").split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret-env", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--mode", default="accept", choices=["accept", "fail-first", "gone", "slow"])
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()
    if args.mode == "slow" and args.delay_ms <= 0:
        sys.exit("--mode slow needs --delay-ms N (the answer's delay)")
    secret = os.environ.get(args.secret_env, "")
    if not secret.startswith("whsec_"):
        sys.exit(f"{args.secret_env} must hold a whsec_ secret")
    key = base64.b64decode(secret[len("whsec_"):])
    seen = set()
    lock = threading.Lock()
    log = open(args.log, "a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The answer goes out in several small writes: without this, Nagle's algorithm holds the
        # last one back until the client's delayed acknowledgement (tens of milliseconds a request).
        disable_nagle_algorithm = True

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            msg_id = self.headers.get("webhook-id")
            timestamp = self.headers.get("webhook-timestamp")
            valid = verify(key, msg_id, timestamp, body, self.headers.get("webhook-signature"))
            with lock:
                # Only a validly signed try counts as seen, so a bad one cannot spend the first 503.
                first = msg_id not in seen
                if valid:
                    seen.add(msg_id)
            if not valid:
                status = 401
            elif args.mode == "gone":
                status = 410
            elif args.mode == "fail-first" and first:
                status = 503
            else:
                status = 200
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            # Logged on arrival, before any delay: a sender killed while waiting has been seen.
            with lock:
                log.write(json.dumps({"id": msg_id, "timestamp": int(timestamp) if (timestamp or "").isdigit() else None,
                                      "status": status, "valid": valid, "body": parsed, "received_at": time.time()}) + "\n")
                log.flush()
            if args.delay_ms:
                time.sleep(args.delay_ms / 1000)
            answer = b'{"ok":true}' if status == 200 else b'{"ok":false}'
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
