"""The city docs cannot rot: every `cityhub city` command and option, every city setting of
`cityhub serve` and every entity type the city writes is documented."""

from __future__ import annotations

import argparse
from pathlib import Path

from cityhub.city.commands import add_commands
from cityhub.city.virtual import VirtualCity, synthetic_city

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _city_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cityhub")
    add_commands(parser.add_subparsers())
    return parser


def test_every_city_command_and_option_is_in_city_md() -> None:
    text = (DOCS / "city.md").read_text()
    commands = next(a for a in _city_parser()._actions
                    if isinstance(a, argparse._SubParsersAction))
    city = commands.choices["city"]
    sub = next(a for a in city._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        assert f"cityhub city {name}" in text, name
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert option in text, f"cityhub city {name} {option}"


def test_the_serve_settings_of_the_city_are_in_city_md() -> None:
    text = (DOCS / "city.md").read_text()
    for word in ("--city", "--no-city", "--simulator", "--no-simulator", "--sim-speed",
                 "CITYHUB_CITY", "CITYHUB_SIMULATOR", "CITYHUB_SIMULATOR_SPEED",
                 "CITYHUB_SIMULATOR_STEP", "CITYHUB_SIMULATOR_FAULTS"):
        assert word in text, word


def test_every_entity_type_is_in_data_models_md(helsinki_city: VirtualCity) -> None:
    text = (DOCS / "data-models.md").read_text()
    types = {e["type"] for e in helsinki_city.entities()}
    types |= {e["type"] for e in synthetic_city(1, 4).entities()}
    for entity_type in types:
        assert f"`{entity_type}`" in text, entity_type
