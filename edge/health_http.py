"""A small local HTTP endpoint on the edge box: ``/health`` (JSON) and ``/metrics`` (Prometheus).

It binds to loopback by default: a box's health is read by the local watchdog (systemd) or a
technician's SSH tunnel; the central service learns health through ZeroMQ heartbeats instead.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


class HealthServer:
    """Serves ``health()`` as JSON and a Prometheus registry, in a daemon thread.

    Example:
        >>> srv = HealthServer("127.0.0.1", 0, lambda: {"ok": True}, CollectorRegistry())
        >>> srv.start(); port = srv.port                      # doctest: +SKIP
        >>> srv.stop()                                        # doctest: +SKIP
    """

    def __init__(
        self, host: str, port: int, health: Callable[[], dict[str, Any]], registry: CollectorRegistry
    ) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/health":
                    doc = owner.health()
                    body = json.dumps(doc).encode()
                    status = 200 if doc.get("ok", False) else 503
                    self._reply(status, "application/json", body)
                elif self.path == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, generate_latest(owner.registry))
                else:
                    self._reply(404, "application/json", b'{"detail": "not found"}')

            def _reply(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("health http: " + format, *args)

        self.health = health
        self.registry = registry
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-http", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)
