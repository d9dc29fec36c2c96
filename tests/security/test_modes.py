"""Start-up modes: open on loopback with no auth file (loudly), refusal on other addresses
unless overridden, a bad auth file stops start-up; and the admin CLI makes tenants, roles and
keys that a running hub accepts without a restart."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx
import pytest

from api.support import assert_problem
from cityhub.api.app import create_app
from cityhub.cli import main
from cityhub.ngsild.errors import BadRequestData
from cityhub.settings import Settings

from .support import secured_hub


def test_a_public_address_with_no_auth_file_refuses_to_start(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITYHUB_AUTH_FILE", raising=False)
    monkeypatch.delenv("CITYHUB_ALLOW_OPEN", raising=False)
    with caplog.at_level(logging.ERROR, "cityhub"):
        assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "--allow-open" in caplog.text and "--auth" in caplog.text


def test_a_bad_auth_file_stops_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "auth.json"
    bad.write_text('{"keys": [{"id": "k", "sha256": "0", "role": "wizard"}]}')
    with pytest.raises(BadRequestData, match="unknown role"):
        create_app(Settings(db=f"sqlite:///{tmp_path / 'hub.db'}", auth_file=str(bad)))
    bad.write_text("{not json")
    with pytest.raises(BadRequestData, match="cannot read the auth file"):
        create_app(Settings(db=f"sqlite:///{tmp_path / 'hub.db'}", auth_file=str(bad)))


def test_open_mode_stays_open(api) -> None:
    """The session's hub has no auth file: standard clients work with no credentials."""
    api.create({"id": "urn:ngsi-ld:ParkingSpot:open-1", "type": "ParkingSpot"})
    assert api.get("/types").status_code == 200
    assert api.delete("/entities/urn:ngsi-ld:ParkingSpot:open-1").status_code == 204


def test_the_admin_cli_makes_keys_a_running_hub_accepts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with secured_hub(tmp_path) as hub:
        auth = str(hub.auth_file)
        assert main(["admin", "--auth", auth, "tenant", "add", "sejong",
                     "--open-data", "AirQualityObserved"]) == 0
        assert main(["admin", "--auth", auth, "role", "add", "inspector",
                     "--read", "ParkingSpot"]) == 0
        capsys.readouterr()
        assert main(["admin", "--auth", auth, "key", "add", "insp-1", "--role", "inspector",
                     "--tenant", "sejong"]) == 0
        key = json.loads(capsys.readouterr().out)["key"]
        assert key not in hub.auth_file.read_text()  # only its hash is kept
        assert main(["admin", "--auth", auth, "key", "add", "x", "--role", "nobody",
                     "--tenant", "sejong"]) == 2
        headers = {"X-API-Key": key, "NGSILD-Tenant": "sejong"}
        url = hub.url + "/ngsi-ld/v1/entities"
        deadline = time.monotonic() + 5
        while True:  # the hub re-reads the file within a second
            response = httpx.get(url, params={"type": "ParkingSpot"}, headers=headers)
            if response.status_code != 401 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert response.status_code in (200, 404), response.text
        assert_problem(httpx.get(url, params={"type": "Alert"}, headers=headers), 403)
        assert main(["admin", "--auth", auth, "key", "list"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert "sha256" not in json.dumps(listed) and key not in json.dumps(listed)
        assert main(["admin", "--auth", auth, "key", "revoke", "insp-1"]) == 0
        deadline = time.monotonic() + 5
        while httpx.get(url, params={"type": "ParkingSpot"}, headers=headers
                        ).status_code != 401:
            assert time.monotonic() < deadline
            time.sleep(0.2)
