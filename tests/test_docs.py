"""The docs cannot rot: every curl example in docs/api.md runs against a real hub and answers
with the status the doc says; every route of the API is documented there."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
API_DOC = ROOT / "docs" / "api.md"
EXAMPLE = re.compile(r"<!-- expect: (\d{3}) -->\n```sh\n(.*?)\n```", re.S)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    db = tmp_path_factory.mktemp("docs") / "hub.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "cityhub.cli", "serve", "--db", f"sqlite:///{db}",
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(url + "/version", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def examples() -> list[tuple[int, str]]:
    return [(int(status), command) for status, command in EXAMPLE.findall(API_DOC.read_text())]


def test_api_doc_has_examples() -> None:
    assert len(examples()) >= 20


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_api_doc_examples_run_as_written(hub_url: str) -> None:
    for status, command in examples():
        command = command.replace("http://127.0.0.1:1026", hub_url)
        result = subprocess.run(
            command + " -s -o /dev/null -w '%{http_code}'", shell=True, capture_output=True,
            text=True, timeout=30,
        )
        assert result.stdout.strip() == str(status), f"{command}\n-> {result.stdout}"


def test_every_route_is_documented() -> None:
    from cityhub.api import batch, contexts, discovery, entities, subscriptions, temporal

    text = API_DOC.read_text()
    for module in (entities, batch, discovery, contexts, temporal, subscriptions):
        for route in module.routes:
            base = route.path.split("{")[0].rstrip("/")
            assert f"/ngsi-ld/v1{base}" in text, f"{route.path} is not in docs/api.md"


def test_ci_runs_the_readme_commands_test_command_exactly() -> None:
    """The README's second command is the one CI runs: a green CI then proves it works."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```sh\n(python3 -m venv .*?)\n```", readme)
    assert len(commands) >= 2, "README.md must start with its two commands"
    test_command = next(c for c in commands if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()
