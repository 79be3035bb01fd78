"""A stand-in for Seldon's Go executor's /prometheus page: serves the text of a file the test
writes (scripted counts of seldon_api_executor_server_requests_seconds_*). Test-only.

The executor is not on PyPI and cannot run here (feedback-stack.md); every other metric of the
feedback tests comes from the real Seldon wrapper. Usage: exposition.py FILE PORT_FILE
"""

import http.server
import sys
from pathlib import Path

SOURCE = Path(sys.argv[1])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        body = SOURCE.read_bytes() if SOURCE.exists() else b""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
Path(sys.argv[2]).write_text(str(server.server_address[1]))
server.serve_forever()
