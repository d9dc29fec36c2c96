"""schemathesis at a larger budget against a `cityhub serve` subprocess on a free port.

    bench/fuzz_api.py [--max-examples N] [--db DSN]

SQLite in a temporary directory by default; `--db postgresql://...` fuzzes a PostgreSQL store.
N cases per operation and generation mode (positive and negative). Prints ONE JSON object:
fuzz_cases, fuzz_5xx, fuzz_hangs, operations, seconds, failures (the first 50). Read by
bench/reliability.py."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from e2e.cityhub_process import CLI, free_port  # noqa: E402
from fuzz.runner import run  # noqa: E402


def wait_for(url: str, server: subprocess.Popen, log: Path) -> None:
    """Until the hub at `url` answers (exit with its log if it stopped)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(log.read_text()[-2000:])
        try:
            with urllib.request.urlopen(url + "/version", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit("the hub did not start in 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=50)
    parser.add_argument("--db", default=None)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = args.db or f"sqlite:///{Path(folder) / 'fuzz.db'}"
        port = free_port()
        # no @context is fetched from outside: only the shipped core contexts resolve
        env = {**os.environ, "CITYHUB_CONTEXT_ALLOW": "http://127.0.0.1:1/",
               "CITYHUB_CONTEXT_FETCH_TIMEOUT": "1"}
        log = (Path(folder) / "hub.log").open("wb")
        server = subprocess.Popen([CLI, "serve", "--db", db, "--port", str(port), "--no-city",
                                   "--no-simulator"], stdout=log, stderr=subprocess.STDOUT,
                                  env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(url, server, Path(folder) / "hub.log")
            started = time.monotonic()
            report = run(url, args.max_examples, timeout=args.timeout)
            figures = report.figures()
            figures["seconds"] = round(time.monotonic() - started, 1)
            figures["store"] = db.split(":", 1)[0]
            figures["max_examples"] = args.max_examples
        finally:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(10)
            server.kill()  # nothing when it stopped already
            server.wait()
            log.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
