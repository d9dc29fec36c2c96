"""A hub in its own process on a free port, over a synthetic city it generated first: what the
browser tests and bench/dashboard.py run the dashboard against."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CLI = str(Path(sys.executable).parent / "cityhub")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def city_hub(folder: Path, *, size: int, seed: int = 1) -> Iterator[tuple[str, int]]:
    """(the hub's URL, the entities of the city) of a hub serving a synthetic city of `size`
    blocks, without a simulator; its log is `folder/hub.log`."""
    db = f"sqlite:///{folder / 'city.db'}"
    made = subprocess.run([CLI, "city", "generate", "--seed", str(seed), "--size", str(size),
                           "--db", db], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    port = free_port()
    with (folder / "hub.log").open("wb") as log:
        server = subprocess.Popen([CLI, "serve", "--db", db, "--port", str(port), "--no-city",
                                   "--no-simulator"], stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(url + "/version", timeout=1).close()
                    break
                except OSError:
                    assert server.poll() is None, (folder / "hub.log").read_text()
                    time.sleep(0.1)
            yield url, int(json.loads(made.stdout)["entities"])
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
