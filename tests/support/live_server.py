"""Small HTTP servers for browser tests: the Flask app in a thread (no nginx, no Roundcube),
and a "remote" server that records every request a page makes to it."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from werkzeug.serving import WSGIRequestHandler, make_server

HOST = "127.0.0.1"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args) -> None:  # no access log in the test output
        pass


class LiveApp:
    """``app`` served by werkzeug's threaded server on 127.0.0.1:<free port>; ``url``."""

    def __init__(self, app) -> None:
        self.server = make_server(HOST, 0, app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://{HOST}:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveApp:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self._thread.join(5)


class RemoteServer:
    """Another origin: answers a script for *.js, a style sheet for *.css (itself loading an
    image), an HTML page for *.html, a PNG otherwise. ``paths`` lists what was asked, in order."""

    BODIES = {
        ".js": ("application/javascript", b"window.__xss && __xss('remote-script');"),
        ".css": ("text/css", b"body{background:url(/from-css.png)}"),
        ".html": ("text/html", b"<script>window.__xss && __xss('remote-page')</script>"),
    }

    def __init__(self) -> None:
        self.paths: list[str] = []
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                remote.paths.append(self.path)
                kind = next((v for k, v in remote.BODIES.items()
                             if self.path.split("?")[0].endswith(k)), ("image/png", PNG))
                self.send_response(200)
                self.send_header("Content-Type", kind[0])
                self.send_header("Content-Length", str(len(kind[1])))
                self.end_headers()
                self.wfile.write(kind[1])

            do_POST = do_GET  # noqa: N815 (a form posted here is a leak too)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RemoteServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
