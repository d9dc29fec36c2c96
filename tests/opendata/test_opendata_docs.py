"""docs/opendata.md cannot rot: its curl examples run against a real hub in open mode and
answer with the status the doc says; its catalogue file example loads."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from cityhub.opendata.catalogue import KOGL_1, CatalogueConfig
from cityhub.settings import Settings
from conftest import serve_hub

DOC = Path(__file__).resolve().parents[2] / "docs" / "opendata.md"
EXAMPLE = re.compile(r"<!-- expect: (\d{3}) -->\n```sh\n(.*?)\n```", re.S)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_examples_run_as_written(tmp_path: Path) -> None:
    examples = EXAMPLE.findall(DOC.read_text())
    assert len(examples) >= 8
    with serve_hub(Settings(db=f"sqlite:///{tmp_path / 'hub.db'}")) as url:
        for status, command in examples:
            command = command.replace("http://127.0.0.1:1026", url)
            result = subprocess.run(command + " -s -o /dev/null -w '%{http_code}'",
                                    shell=True, capture_output=True, text=True, timeout=30)
            assert result.stdout.strip() == status, f"{command}\n-> {result.stdout}"


def test_catalogue_file_example_loads() -> None:
    [toml] = re.findall(r"```toml\n(.*?)\n```", DOC.read_text(), re.S)
    config = CatalogueConfig.from_document(tomllib.loads(toml))
    assert config.title == "Sejong open data"
    meta = config.meta("", "AirQualityObserved")
    assert meta.license == KOGL_1 and meta.frequency.endswith("/HOURLY")
    assert config.meta("", "Streetlight").frequency.endswith("/UPDATE_CONT")
