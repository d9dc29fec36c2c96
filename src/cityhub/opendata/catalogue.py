"""The catalogue file and the DCAT-AP JSON-LD document of the published datasets. Pure: no I/O
beyond reading the catalogue file.

A dataset is one entity type of one tenant. The catalogue file (JSON, TOML or YAML, chosen by
its extension; docs/opendata.md) gives the catalogue's title and publisher, defaults for every
dataset, and optionally a list of datasets with their own metadata. Which datasets are
published: with access control, the tenant's open-data types (the auth file); in open mode the
datasets the file lists, or every type present when it lists none.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from cityhub.ngsild.errors import BadRequestData
from cityhub.security.config import tenant_key
from cityhub.security.policy import short_name
from cityhub.store.base import DatasetSummary

CC_BY_4 = "https://creativecommons.org/licenses/by/4.0/"
#: the Korea Open Government Licence, Type 1 (attribution)
KOGL_1 = "https://www.kogl.or.kr/info/licenseType1.do"
#: short licence names a catalogue file may use instead of the licence URI
LICENCES = {
    "CC-BY-4.0": CC_BY_4,
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "KOGL-1": KOGL_1,
    "ODbL-1.0": "https://opendatacommons.org/licenses/odbl/1-0/",
}
FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
#: entities change as their sensors report: "continuously updated"
DEFAULT_FREQUENCY = FREQUENCY + "UPDATE_CONT"
IANA = "http://www.iana.org/assignments/media-types/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
#: export format -> (media type, EU file type)
FORMATS = {
    "csv": ("text/csv", "CSV"),
    "geojson": ("application/geo+json", "GEOJSON"),
    "jsonld": ("application/ld+json", "JSON_LD"),
}
NGSI_LD_SPEC = "https://www.etsi.org/deliver/etsi_gs/CIM/001_099/009/"


@lru_cache(maxsize=1)
def dcat_context() -> dict[str, Any]:
    """The JSON-LD @context of the catalogue (shipped in the package: no network)."""
    text = resources.files("cityhub.opendata").joinpath("contexts/dcat-ap.jsonld").read_text(
        "utf-8")
    return json.loads(text)["@context"]  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class DatasetMeta:
    title: str | None = None
    description: str | None = None
    license: str = CC_BY_4
    frequency: str = DEFAULT_FREQUENCY
    keywords: tuple[str, ...] = ()


@dataclass(slots=True)
class CatalogueConfig:
    title: str = "CityHub open data"
    description: str = ("Datasets published by this CityHub data hub: one per tenant and "
                        "entity type (NGSI-LD), exported as CSV, GeoJSON and NGSI-LD.")
    publisher: str = "CityHub operator"
    homepage: str | None = None
    language: str | None = None
    defaults: DatasetMeta = field(default_factory=DatasetMeta)
    #: (tenant, type short name) -> metadata; the datasets the file declares
    datasets: dict[tuple[str, str], DatasetMeta] = field(default_factory=dict)

    def meta(self, tenant: str, type_name: str) -> DatasetMeta:
        return self.datasets.get((tenant, type_name), self.defaults)

    def declared(self, tenant: str) -> frozenset[str] | None:
        """The types the file declares for `tenant` (None: it declares no dataset at all)."""
        if not self.datasets:
            return None
        return frozenset(t for (k, t) in self.datasets if k == tenant)

    @classmethod
    def load(cls, path: str | None) -> CatalogueConfig:
        if path is None:
            return cls()
        try:
            text = Path(path).read_text("utf-8")
            suffix = Path(path).suffix.lower()
            if suffix == ".toml":
                doc = tomllib.loads(text)
            elif suffix in (".yaml", ".yml"):
                doc = yaml.safe_load(text)
            else:
                doc = json.loads(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise BadRequestData(f"cannot read the catalogue file {path}: {exc}"[:300]) from None
        try:
            return cls.from_document(doc)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequestData(f"the catalogue file {path} is not valid: {exc!r}"[:300]
                                 ) from None

    @classmethod
    def from_document(cls, doc: Any) -> CatalogueConfig:
        if not isinstance(doc, dict):
            raise ValueError("the catalogue file must hold an object")
        config = cls()
        for name in ("title", "description", "publisher", "homepage", "language"):
            if doc.get(name) is not None:
                setattr(config, name, str(doc[name]))
        config.defaults = _meta(doc.get("defaults") or {}, DatasetMeta())
        for spec in doc.get("datasets") or []:
            if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
                raise ValueError("each dataset needs a type")
            tenant = str(spec.get("tenant", "@default"))
            key = ("" if tenant == "@default" else tenant, short_name(spec["type"]))
            config.datasets[key] = _meta(spec, config.defaults)
        return config


def _meta(spec: dict[str, Any], base: DatasetMeta) -> DatasetMeta:
    meta = base
    if "title" in spec:
        meta = replace(meta, title=str(spec["title"]))
    if "description" in spec:
        meta = replace(meta, description=str(spec["description"]))
    if "license" in spec:
        meta = replace(meta, license=LICENCES.get(str(spec["license"]), str(spec["license"])))
    if "accrualPeriodicity" in spec:
        value = str(spec["accrualPeriodicity"])
        meta = replace(meta, frequency=value if ":" in value else FREQUENCY + value.upper())
    if "keywords" in spec:
        words = spec["keywords"]
        if not isinstance(words, list):
            raise ValueError("keywords must be a list")
        meta = replace(meta, keywords=tuple(str(w) for w in words))
    return meta


@dataclass(slots=True)
class Dataset:
    tenant: str
    type: str  # the expanded type IRI
    summary: DatasetSummary
    meta: DatasetMeta
    downloads: int = 0
    entities_served: int = 0

    @property
    def name(self) -> str:
        return short_name(self.type)

    def path(self, base: str) -> str:
        return f"{base}/cityhub/v1/catalogue/{quote(tenant_key(self.tenant), safe='@')}/" \
               f"{quote(self.name, safe='')}"


def rounded_bbox(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A bounding box to 4 decimals (about 10 m), rounded outwards past the float32 slack of
    the SQLite R*Tree (which widens a box by up to ~1e-5 degree)."""
    x0, y0, x1, y1 = box
    return (round(math.floor((x0 + 2e-5) * 1e4) / 1e4, 4),
            round(math.floor((y0 + 2e-5) * 1e4) / 1e4, 4),
            round(math.ceil((x1 - 2e-5) * 1e4) / 1e4, 4),
            round(math.ceil((y1 - 2e-5) * 1e4) / 1e4, 4))


def wkt_bbox(box: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = box
    return f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"


def geojson_bbox(box: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = box
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))


def dataset_document(dataset: Dataset, base: str, publisher: dict[str, Any]) -> dict[str, Any]:
    meta, summary, url = dataset.meta, dataset.summary, dataset.path(base)
    tenant = tenant_key(dataset.tenant)
    doc: dict[str, Any] = {
        "@id": url,
        "@type": "Dataset",
        "identifier": f"{tenant}/{dataset.name}",
        "title": meta.title or f"{dataset.name} ({tenant})",
        "description": meta.description or (
            f"Every {dataset.name} entity of tenant {tenant}, as served by the NGSI-LD API."),
        "keyword": list(meta.keywords) or [dataset.name],
        "publisher": publisher,
        "license": meta.license,
        "accrualPeriodicity": meta.frequency,
        "issued": summary.created,
        "modified": summary.modified,
        "temporal": {"@type": "PeriodOfTime", "startDate": summary.created,
                     "endDate": summary.modified},
        "tenant": tenant,
        "entityType": dataset.type,
        "entityCount": summary.count,
        "downloads": dataset.downloads,
        "entitiesServed": dataset.entities_served,
        "distribution": [
            {"@id": f"{url}/export.{fmt}", "@type": "Distribution",
             "title": f"{dataset.name} as {label}",
             "accessURL": f"{url}/export.{fmt}", "downloadURL": f"{url}/export.{fmt}",
             "mediaType": IANA + media, "format": FILE_TYPE + label, "license": meta.license,
             **({"conformsTo": NGSI_LD_SPEC} if fmt == "jsonld" else {})}
            for fmt, (media, label) in FORMATS.items()
        ],
    }
    if summary.bbox is not None:
        box = rounded_bbox(summary.bbox)
        doc["spatial"] = {"@type": "Location", "bbox": wkt_bbox(box),
                          "geometry": geojson_bbox(box)}
    return doc


def catalogue_document(config: CatalogueConfig, datasets: list[Dataset], base: str
                       ) -> dict[str, Any]:
    """The DCAT-AP catalogue (JSON-LD, its @context inline)."""
    publisher = {"@id": f"{base}/cityhub/v1/catalogue#publisher", "@type": "Agent",
                 "name": config.publisher}
    doc: dict[str, Any] = {
        "@context": dcat_context(),
        "@id": f"{base}/cityhub/v1/catalogue",
        "@type": "Catalog",
        "title": config.title,
        "description": config.description,
        "publisher": publisher,
        "dataset": [dataset_document(d, base, publisher) for d in datasets],
    }
    if datasets:
        doc["modified"] = max(d.summary.modified for d in datasets)
    if config.homepage:
        doc["homepage"] = config.homepage
    if config.language:
        doc["language"] = config.language
    return doc
