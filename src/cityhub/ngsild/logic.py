"""Boolean connectives shared by the query trees (q, scopeQ, type expressions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Any, ...]
