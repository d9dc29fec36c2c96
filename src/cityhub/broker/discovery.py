"""Context information discovery (clause 5.7.5 - 5.7.8): entity types and attributes."""

from __future__ import annotations

import uuid
from typing import Any

from cityhub.ngsild.context import TermMap
from cityhub.ngsild.errors import ResourceNotFound
from cityhub.store.base import Store


def _list_id(kind: str) -> str:
    return f"urn:ngsi-ld:{kind}:{uuid.uuid4().hex}"


class Discovery:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def types(self, tenant: str, terms: TermMap, *, details: bool) -> Any:
        """GET /types: an EntityTypeList, or EntityType objects with details=true."""
        summaries = await self.store.type_summaries(tenant)
        if not details:
            return {
                "id": _list_id("EntityTypeList"),
                "type": "EntityTypeList",
                "typeList": [terms.compact(s.type) for s in summaries],
            }
        return [
            {
                "id": s.type,
                "type": "EntityType",
                "typeName": terms.compact(s.type),
                "attributeNames": sorted(terms.compact(a) for a in s.attributes),
            }
            for s in summaries
        ]

    async def type_info(self, tenant: str, terms: TermMap, type_name: str) -> dict[str, Any]:
        """GET /types/{type}: an EntityTypeInfo."""
        iri = terms.expand(type_name)
        summaries = await self.store.type_summaries(tenant, [iri])
        if not summaries:
            raise ResourceNotFound(f"no entity of type {type_name[:200]!r} exists")
        summary = summaries[0]
        return {
            "id": summary.type,
            "type": "EntityTypeInfo",
            "typeName": terms.compact(summary.type),
            "entityCount": summary.count,
            "attributeDetails": [
                {
                    "id": attr,
                    "type": "Attribute",
                    "attributeName": terms.compact(attr),
                    "attributeTypes": sorted(kinds),
                }
                for attr, kinds in sorted(summary.attributes.items())
            ],
        }

    async def attributes(self, tenant: str, terms: TermMap, *, details: bool) -> Any:
        """GET /attributes: an AttributeList, or Attribute objects with details=true."""
        summaries = await self.store.attribute_summaries(tenant)
        if not details:
            return {
                "id": _list_id("AttributeList"),
                "type": "AttributeList",
                "attributeList": [terms.compact(s.attribute) for s in summaries],
            }
        return [self._attribute(s, terms) for s in summaries]

    async def attribute_info(self, tenant: str, terms: TermMap, name: str) -> dict[str, Any]:
        summaries = await self.store.attribute_summaries(tenant, [terms.expand(name)])
        if not summaries:
            raise ResourceNotFound(f"no entity has an attribute {name[:200]!r}")
        return self._attribute(summaries[0], terms)

    @staticmethod
    def _attribute(summary: Any, terms: TermMap) -> dict[str, Any]:
        return {
            "id": summary.attribute,
            "type": "Attribute",
            "attributeName": terms.compact(summary.attribute),
            "attributeCount": summary.count,
            "attributeTypes": sorted(summary.kinds),
            "typeNames": sorted(terms.compact(t) for t in summary.types),
        }
