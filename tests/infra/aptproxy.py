"""A tiny apt proxy on the host end of a test host's veth: GET and HEAD to the Debian mirror only.

Test hosts have no route past this machine. apt inside them is pointed at this proxy
(`Acquire::http::Proxy`), which forwards requests for the mirror named in this machine's own
apt sources and refuses everything else with 403, so Debian packages are the only thing a
host can fetch. With a `cache_dir`, package files (.deb: immutable under their versioned
names) are kept there, so ten hosts installing the same packages fetch each one once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["AptProxy"]

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}


class AptProxy:
    """Serve on `(address, port 0)` in a thread; `port` is the port picked."""

    def __init__(self, address: str, mirror: str, cache_dir: Path | None = None) -> None:
        allowed = urlsplit(mirror).netloc

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._forward()

            def do_HEAD(self) -> None:
                self._forward()

            def _forward(self) -> None:
                url = urlsplit(self.path)
                if url.scheme != "http" or url.netloc != allowed:
                    self.send_error(403, "only the Debian mirror is reachable")
                    return
                name = os.path.basename(unquote(url.path))
                if cache_dir is not None and self.command == "GET" and name.endswith(".deb"):
                    self._cached(cache_dir / name)
                    return
                request = urllib.request.Request(self.path, method=self.command)  # noqa: S310
                for name in ("Range", "If-Modified-Since", "If-Range", "Cache-Control"):
                    if value := self.headers.get(name):
                        request.add_header(name, value)
                try:
                    upstream = urllib.request.urlopen(request, timeout=60)  # noqa: S310
                except urllib.error.HTTPError as exc:
                    upstream = exc
                except OSError as exc:
                    self.send_error(502, f"mirror unreachable: {exc}")
                    return
                with upstream:
                    self.send_response(upstream.status)
                    for name, value in upstream.headers.items():
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                    if upstream.headers.get("Content-Length") is None:
                        # Length unknown (upstream was chunked): end the body by closing.
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    if self.command == "GET":
                        shutil.copyfileobj(upstream, self.wfile)

            def _cached(self, path: Path) -> None:
                if not path.is_file():
                    try:
                        upstream = urllib.request.urlopen(self.path, timeout=60)  # noqa: S310
                    except OSError as exc:
                        self.send_error(502, f"mirror: {exc}")
                        return
                    with upstream, tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as f:
                        shutil.copyfileobj(upstream, f)
                    os.replace(f.name, path)  # whole files only, even with two fetching at once
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.debian.binary-package")
                self.send_header("Content-Length", str(path.stat().st_size))
                self.end_headers()
                with path.open("rb") as cached:
                    shutil.copyfileobj(cached, self.wfile)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((address, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
