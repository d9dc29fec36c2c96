"""Compiling an EntityQuery to SQL, shared by the SQLite and PostgreSQL adapters.

Both adapters lay out the same logical tables:

    names(nid, name)                       -- interned IRIs: types, attribute paths
    entities(eid, tenant, id, created_at, modified_at, version, doc)
    entity_types(eid, tid)
    attr_index(eid, kid, kind, num, txt, atype)  -- the q leaves of `ngsild.entity.index_leaves`
    geometries: one row per GeoProperty instance (adapter-specific: an R*Tree or PostGIS)

so `q`, `scopeQ`, `type`, `attrs` and `idPattern` compile the same way for both; only regular
expressions and geometry differ, and a dialect subclass supplies those. Every value reaches the
database as a bound parameter; the SQL text is built only from fixed fragments. The semantics are
those of the in-memory evaluator in `ngsild.q` over the same leaves, so the two agree.

Placeholders are written as `?`; the PostgreSQL adapter renumbers them to `$n`.
"""

from __future__ import annotations

from typing import Any

from cityhub.ngsild.entity import leaf_key
from cityhub.ngsild.geo import GeoQuery
from cityhub.ngsild.logic import And, Or
from cityhub.ngsild.q import AttrPath, Comparison, Exists, Range
from cityhub.ngsild.scope import ScopeMatch, scope_regex
from cityhub.ngsild.typeexpr import TypeName
from cityhub.store.base import EntityQuery, EntitySelector

FALSE = "1=0"
NAME_ID = "(SELECT nid FROM names WHERE name = ?)"


class QueryCompiler:
    """Builds `WHERE` clauses over `entities e`; subclasses give regex and geometry SQL."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    # -- dialect hooks -----------------------------------------------------------------------
    def regex(self, value_sql: str) -> str:
        """SQL testing `value_sql` against a regular expression bound at the one `?`."""
        raise NotImplementedError

    def geo_condition(self, geoq: GeoQuery) -> str:
        raise NotImplementedError

    def tenant_condition(self, driven: bool) -> str:
        """The tenant filter; `driven` says a more selective condition (ids, geometry) exists
        that the database should start from instead."""
        return "e.tenant = ?"

    # -- entry point -------------------------------------------------------------------------
    def where(self, tenant: str, query: EntityQuery) -> str:
        driving = _driving_comparison(query.q)
        driven = (query.geoq is not None or any(s.ids for s in query.selectors)
                  or driving is not None)
        clauses = [self.param(self.tenant_condition(driven), tenant)]
        if query.geoq is not None:
            clauses.append(self.geo_condition(query.geoq))
        if query.selectors:
            selected = [self.selector(s) for s in query.selectors]
            clauses.append(selected[0] if len(selected) == 1 else "(" + " OR ".join(selected) + ")")
        if query.attrs:
            marks = ",".join("?" * len(query.attrs))
            self.params.extend(query.attrs)
            clauses.append(
                "EXISTS (SELECT 1 FROM attr_index a WHERE a.eid = e.eid AND "
                f"a.kid IN (SELECT nid FROM names WHERE name IN ({marks})))"
            )
        if query.scopeq is not None:
            clauses.append(self.scope(query.scopeq))
        if query.q is not None:
            clauses.append(self.q(query.q, driving))
        if query.after is not None:
            clauses.append(self.param("e.eid > ?", query.after))
        return " AND ".join(clauses)

    def selector(self, selector: EntitySelector) -> str:
        parts = []
        if selector.ids:
            self.params.extend(selector.ids)
            parts.append(f"e.id IN ({','.join('?' * len(selector.ids))})")
        if selector.id_pattern is not None:
            parts.append(self.param(self.regex("e.id"), selector.id_pattern))
        if selector.types is not None:
            parts.append(self.types(selector.types))
        return "(" + " AND ".join(parts) + ")" if parts else "1=1"

    def param(self, sql: str, *values: Any) -> str:
        self.params.extend(values)
        return sql

    # -- type expressions --------------------------------------------------------------------
    def types(self, node: Any) -> str:
        if isinstance(node, TypeName):
            return self.param(
                "EXISTS (SELECT 1 FROM entity_types t WHERE t.eid = e.eid AND t.tid = "
                f"{NAME_ID})",
                node.name,
            )
        return self._connect(node, self.types)

    def _connect(self, node: Any, compile_item: Any) -> str:
        joiner = " AND " if isinstance(node, And) else " OR "
        if not isinstance(node, And | Or):
            raise TypeError(f"unexpected query node {node!r}")
        return "(" + joiner.join(compile_item(item) for item in node.items) + ")"

    # -- scopeQ ------------------------------------------------------------------------------
    def scope(self, node: Any) -> str:
        if isinstance(node, ScopeMatch):
            return self.param(
                "EXISTS (SELECT 1 FROM attr_index a WHERE a.eid = e.eid AND a.kid = "
                f"{NAME_ID} AND a.kind = 's' AND {self.regex('a.txt')})",
                "@scope",
                scope_regex(node),
            )
        return self._connect(node, self.scope)

    # -- q -----------------------------------------------------------------------------------
    def q(self, node: Any, driving: Comparison | None = None) -> str:
        """`driving`, a top-level `==` comparison, is compiled as an `IN` over the attribute
        index (which its (kid, kind, num, txt) index answers directly) rather than a
        correlated EXISTS, so that a selective equality or range drives the query."""
        if driving is not None:
            if node is driving:
                return self._driving(node)
            if isinstance(node, And):
                return "(" + " AND ".join(
                    self._driving(item) if item is driving else self.q(item)
                    for item in node.items) + ")"
        if isinstance(node, Exists):
            sql = self._leaf_exists(node.path, "")
            return "NOT " + sql if node.negated else sql
        if isinstance(node, Comparison):
            return self._comparison(node)
        return self._connect(node, self.q)

    def _driving(self, node: Comparison) -> str:
        condition, values = self._equality(node.value)
        if condition is None:
            return FALSE
        self.params.append(leaf_key(node.path.attr, node.path.sub, node.path.compound))
        self.params.extend(values)
        return f"e.eid IN (SELECT a.eid FROM attr_index a WHERE a.kid = {NAME_ID} AND {condition})"

    def _leaf_exists(self, path: AttrPath, condition: str, *values: Any) -> str:
        self.params.append(leaf_key(path.attr, path.sub, path.compound))
        self.params.extend(values)
        extra = f" AND {condition}" if condition else ""
        return (
            "EXISTS (SELECT 1 FROM attr_index a WHERE a.eid = e.eid AND "
            f"a.kid = {NAME_ID}{extra})"
        )

    def _comparison(self, node: Comparison) -> str:
        op, value = node.op, node.value
        if op in ("==", "!="):
            condition, values = self._equality(value)
            if condition is None:
                return FALSE if op == "==" else self._leaf_exists(node.path, "")
            if op == "==":
                return self._leaf_exists(node.path, condition, *values)
            present = self._leaf_exists(node.path, "")
            return f"({present} AND NOT {self._leaf_exists(node.path, condition, *values)})"
        if op in ("~=", "!~="):
            condition = "a.kind = 's' AND " + self.regex("a.txt")
            if op == "~=":
                return self._leaf_exists(node.path, condition, value)
            present = self._leaf_exists(node.path, "")
            return f"({present} AND NOT {self._leaf_exists(node.path, condition, value)})"
        column = _ordered_column(value)
        if column is None:
            return FALSE
        kind, col, bound = column
        return self._leaf_exists(node.path, f"a.kind = '{kind}' AND {col} {op} ?", bound)

    def _equality(self, value: Any) -> tuple[str | None, list[Any]]:
        """The leaf condition of `== value` (also used negated for `!=`)."""
        if isinstance(value, Range):
            low, high = _ordered_column(value.low), _ordered_column(value.high)
            if low is None or high is None or low[0] != high[0]:
                return None, []
            kind, col, _ = low
            return f"a.kind = '{kind}' AND {col} BETWEEN ? AND ?", [low[2], high[2]]
        members = value if isinstance(value, tuple) else (value,)
        parts: list[str] = []
        values: list[Any] = []
        for kind in ("n", "s", "b"):
            group = [_scalar(v)[1] for v in members if _scalar(v)[0] == kind]
            if not group:
                continue
            col = "a.txt" if kind == "s" else "a.num"
            if len(group) == 1:
                parts.append(f"(a.kind = '{kind}' AND {col} = ?)")
            else:
                parts.append(f"(a.kind = '{kind}' AND {col} IN ({','.join('?' * len(group))}))")
            values.extend(group)
        if not parts:
            return None, []
        return "(" + " OR ".join(parts) + ")", values


def _driving_comparison(node: Any) -> Comparison | None:
    """The `==` comparison (equality, list or range) a query can start from, if any."""
    candidates = node.items if isinstance(node, And) else (node,)
    for item in candidates:
        if isinstance(item, Comparison) and item.op == "==":
            return item
    return None


def _scalar(value: Any) -> tuple[str, Any]:
    if isinstance(value, bool):
        return "b", 1.0 if value else 0.0
    if isinstance(value, int | float):
        return "n", float(value)
    return "s", str(value)


def _ordered_column(value: Any) -> tuple[str, str, Any] | None:
    """(kind, column, bound) for an ordering comparison; None when nothing can satisfy it."""
    if isinstance(value, (bool, tuple | Range)):
        return None
    if isinstance(value, int | float):
        return "n", "a.num", float(value)
    return "s", "a.txt", str(value)
