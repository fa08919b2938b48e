"""Stand-ins for the API and the worker, to test the dev stack's orchestration on its own.

`python standins.py api PORT`: answers GET /healthz with 200 and the environment it was given
(the stack's resolved URLs) as JSON. `python standins.py worker`: waits for a signal.
Both exit 0 on SIGINT/SIGTERM, as the real processes do.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHOWN = (
    "DATABASE_URL", "ANALYTICS_DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS", "VAULT_ADDR",
    "VAULT_TOKEN", "SMTP_SINK_HOST", "SMTP_SINK_PORT", "SMTP_SINK_DIR", "DATA_DIR",
    "PUBLIC_BASE_URL",
)  # fmt: skip


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/healthz":
            self.send_error(404)
            return
        body = json.dumps({k: os.environ.get(k) for k in SHOWN}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if sys.argv[1] == "api":
        server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stop.wait()
        server.shutdown()
    else:
        stop.wait()


if __name__ == "__main__":
    main()
