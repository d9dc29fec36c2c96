"""schemathesis against a running hub (SQLite) over its own OpenAPI description: a bounded
number of positive and negative cases per operation; no 5xx, no hang, every status and
content type as described."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

from cityhub.settings import Settings
from conftest import serve_hub

from .runner import run

#: cases per operation and generation mode (bench/fuzz_api.py runs more)
EXAMPLES = 4


def test_no_5xx_no_hang_and_answers_as_described(tmp_path: Path) -> None:
    # no @context is fetched from outside: any Link URL but the core context is refused
    settings = Settings(db=f"sqlite:///{tmp_path / 'hub.db'}", context_fetch_timeout=1.0,
                        context_allow=())
    with serve_hub(settings) as url:
        report = run(url, EXAMPLES, timeout=10.0)
    assert report.operations > 40
    assert report.cases > report.operations * EXAMPLES
    assert report.server_errors == 0 and report.hangs == 0 and not report.failures, \
        "\n".join(report.failures)


class _Failing(http.server.BaseHTTPRequestHandler):
    """Answers every request with a 500, or, for /version, not at all within the timeout."""

    def _answer(self) -> None:
        if self.path.startswith("/version"):
            time.sleep(0.5)
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_the_runner_counts_5xx_and_hangs() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        report = run(f"http://127.0.0.1:{server.server_address[1]}", 1, timeout=0.2)
    finally:
        server.shutdown()
        server.server_close()
    assert report.hangs >= 1
    assert report.server_errors >= report.operations - 2
