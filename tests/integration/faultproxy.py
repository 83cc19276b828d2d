"""A small fault-injecting HTTP proxy in front of the real CKAN (loopback only).

Faults a real CKAN cannot be made to produce on demand: answering HTTP 500, or
answering too late. Everything else is forwarded unchanged to the real server.
Rules match on the request path (e.g. ``/api/3/action/resource_create``) and fire
a given number of times.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Rule:
    path_contains: str
    times: int
    status: int | None = None  # answer with this status instead of forwarding
    delay: float = 0.0  # sleep this long before forwarding (or answering)
    drop: bool = False  # after the delay, close the connection without forwarding


class FaultProxy:
    """Forwards to ``target`` (``http://127.0.0.1:PORT``) and injects faults by rule."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target_host = parts.hostname or "127.0.0.1"
        self.target_port = parts.port or 80
        self.rules: list[Rule] = []
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status answered)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                rule = proxy._take(self.path)
                if rule and rule.delay:
                    time.sleep(rule.delay)
                if rule and rule.drop:
                    proxy.seen.append((self.command, self.path, 0))
                    self.close_connection = True
                    return
                if rule and rule.status:
                    payload = b'{"success": false, "error": {"message": "injected fault"}}'
                    self.send_response(rule.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    proxy.seen.append((self.command, self.path, rule.status))
                    return
                conn = http.client.HTTPConnection(proxy.target_host, proxy.target_port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = f"{proxy.target_host}:{proxy.target_port}"
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                except OSError:
                    self.send_error(502)
                    proxy.seen.append((self.command, self.path, 502))
                    return
                finally:
                    conn.close()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                proxy.seen.append((self.command, self.path, response.status))

            do_GET = _handle
            do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, rule: Rule) -> None:
        with self._lock:
            self.rules.append(rule)

    def _take(self, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.times > 0 and rule.path_contains in path:
                    rule.times -= 1
                    return rule
        return None

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
