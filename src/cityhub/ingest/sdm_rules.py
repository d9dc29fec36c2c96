"""Compact validation rules derived from the FIWARE Smart Data Models JSON Schemas.

The hub validates records with no network at run time, so the rules it needs ship inside the
package (`rules/smart-data-models.json`): for each entity type, each attribute's value kind,
enumeration, range and whether it is required. They are derived from the reference copies of
the schemas (Smart Data Models, smartdatamodels.org, CC-BY-4.0) with

    python -m cityhub.ingest.sdm_rules ../shared/smart-data-models > \
        src/cityhub/ingest/rules/smart-data-models.json

which resolves the schemas' `$ref`s against the local copies only (never the network).
CityHub's own types (`IngestSource`, `IngestRejection`) are added by hand in `OWN_TYPES`.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

RULES_FILE = Path(__file__).parent / "rules" / "smart-data-models.json"

#: the models the hub validates (domain folder, model folder)
MODELS = {
    "AirQualityObserved": "Environment/AirQualityObserved",
    "WeatherObserved": "Weather/WeatherObserved",
    "TrafficFlowObserved": "Transportation/TrafficFlowObserved",
    "OffStreetParking": "Parking/OffStreetParking",
    "ParkingSpot": "Parking/ParkingSpot",
    "Streetlight": "Streetlighting/Streetlight",
    "WasteContainer": "WasteManagement/WasteContainer",
    "EVChargingStation": "Transportation/EVChargingStation",
    "Device": "Device/Device",
    "Alert": "Alert/Alert",
    "NoiseLevelObserved": "Environment/NoiseLevelObserved",
    "CrowdFlowObserved": "Transportation/CrowdFlowObserved",
    "Vehicle": "Transportation/Vehicle",
}

#: `$ref` URL prefix -> local file (see the reference copies' README)
REF_FILES = {
    "https://smart-data-models.github.io/data-models/common-schema.json": "common-schema.json",
    "https://smart-data-models.github.io/dataModel.Weather/weather-schema.json":
        "Weather/weather-schema.json",
    "https://smart-data-models.github.io/dataModel.UrbanMobility/gtfs-schema.json":
        "UrbanMobility/gtfs-schema.json",
    "https://smart-data-models.github.io/dataModel.Device/device-schema.json":
        "Device/device-schema.json",
    "https://smart-data-models.github.io/dataModel.Environment/Environment-schema.json":
        "Environment/Environment-schema.json",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/"
    "Environment-schema.json": "Environment/Environment-schema.json",
    "https://smart-data-models.github.io/dataModel.Alert/alert-schema.json":
        "Alert/alert-schema.json",
}

#: CityHub's own entity types (docs/data-models.md)
OWN_TYPES: dict[str, dict[str, Any]] = {
    "IngestSource": {
        "received": {"kind": "integer", "min": 0},
        "accepted": {"kind": "integer", "min": 0},
        "rejected": {"kind": "integer", "min": 0},
        "duplicates": {"kind": "integer", "min": 0},
        "disconnects": {"kind": "integer", "min": 0},
        "lastSeen": {"kind": "string"},
        "channel": {"kind": "string", "enum": ["mqtt", "http", "file"]},
    },
    "IngestRejection": {
        "source": {"kind": "string", "required": True},
        "reason": {"kind": "string", "required": True},
        "receivedAt": {"kind": "string", "required": True},
        "deviceId": {"kind": "string"},
        "record": {"kind": "object"},
        "payloadBytes": {"kind": "integer", "min": 0},
        "payloadDigest": {"kind": "string"},
    },
}


def _kind(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind == "string" and schema.get("format") == "uri":
        return "uri"
    return kind if isinstance(kind, str) else None


class Deriver:
    """Walks one model's schema, following `$ref`s into the local copies."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.documents: dict[Path, Any] = {}

    def _document(self, path: Path) -> Any:
        if path not in self.documents:
            self.documents[path] = json.loads(path.read_text("utf-8"))
        return self.documents[path]

    def resolve(self, ref: str, here: Path) -> tuple[dict[str, Any], Path]:
        url, _, pointer = ref.partition("#")
        if not url:
            path = here
        else:
            local = next((f for prefix, f in REF_FILES.items() if url == prefix), None)
            if local is None:
                raise ValueError(f"no local copy of {url}")
            path = self.root / local
        node: Any = self._document(path)
        for part in [p for p in pointer.split("/") if p]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node, path

    def properties(self, schema: dict[str, Any], here: Path, out: dict[str, Any],
                   required: set[str]) -> None:
        if "$ref" in schema:
            target, where = self.resolve(schema["$ref"], here)
            self.properties(target, where, out, required)
        for key in ("allOf", "anyOf", "oneOf"):
            for part in schema.get(key, []):
                self.properties(part, here, out, required)
        required.update(r for r in schema.get("required", []) if isinstance(r, str))
        for name, prop in schema.get("properties", {}).items():
            rule = self.rule(prop, here)
            if rule is not None:
                out.setdefault(name, {}).update(rule)

    def rule(self, prop: dict[str, Any], here: Path, depth: int = 0) -> dict[str, Any] | None:
        if "$ref" in prop and depth < 8:
            target, where = self.resolve(prop["$ref"], here)
            return self.rule({**target, **{k: v for k, v in prop.items() if k != "$ref"}},
                             where, depth + 1)
        rule: dict[str, Any] = {}
        description = str(prop.get("description", ""))
        if description.startswith(("Relationship", "Property. Relationship")):
            rule["kind"] = "relationship"
        elif description.startswith("GeoProperty") or "geojson" in str(prop.get("$id", "")):
            rule["kind"] = "geo"
        else:
            kind = _kind(prop)
            if kind is None:
                alternatives = [self.rule(p, here, depth + 1)
                                for key in ("anyOf", "oneOf") for p in prop.get(key, [])]
                kinds = {a.get("kind") for a in alternatives if a}
                enums = [v for a in alternatives if a for v in a.get("enum", [])]
                if len(kinds) == 1 and None not in kinds:
                    rule["kind"] = kinds.pop()
                if enums and all(a and "enum" in a for a in alternatives):
                    rule["enum"] = sorted(set(enums))
            else:
                rule["kind"] = kind
        if isinstance(prop.get("enum"), list):
            rule["enum"] = sorted({str(v) for v in prop["enum"]})
        if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            items = self.rule(prop["items"], here, depth + 1) or {}
            if "enum" in items:
                rule["enum"] = items["enum"]
        for source, target in (("minimum", "min"), ("maximum", "max")):
            if isinstance(prop.get(source), int | float):
                rule[target] = prop[source]
        return rule

    def model(self, folder: str) -> dict[str, Any]:
        path = self.root / folder / "schema.json"
        out: dict[str, Any] = {}
        required: set[str] = set()
        self.properties(self._document(path), path, out, required)
        out.pop("type", None)
        out.pop("id", None)
        for name in required - {"id", "type"}:
            if name in out:
                out[name]["required"] = True
        return dict(sorted(out.items()))


def derive(root: Path) -> dict[str, Any]:
    deriver = Deriver(root)
    types = {name: deriver.model(folder) for name, folder in MODELS.items()}
    return {
        "attribution": "Derived from the Smart Data Models (smartdatamodels.org), CC-BY-4.0",
        "types": {**types, **OWN_TYPES},
    }


@cache
def load_rules() -> dict[str, dict[str, Any]]:
    """type -> attribute -> rule, as shipped in the package."""
    return json.loads(RULES_FILE.read_text("utf-8"))["types"]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m cityhub.ingest.sdm_rules SMART_DATA_MODELS_DIR", file=sys.stderr)
        return 2
    json.dump(derive(Path(argv[0])), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
