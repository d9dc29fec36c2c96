"""The write path's Python before the store, per entity. Prints one JSON object of figures.

On bench/cityentities.py entities (4-5 attributes and a Point each), sequentially, CPU time
(process_time: the machines are shared), the median of --runs runs, garbage collection frozen
after set-up so that the figures are the code's and not the heap's:

* `parse_us`: `EntityParser.entity` (what `BatchBroker._parse` runs per entity); beside it
  `parse_general_path_us`, the same parser with `fast_paths = False` (the baseline in this run);
* `index_leaves_us`: `ngsild.entity.index_leaves` of the parsed entities (the store's rows);
* `merge_us`: `ngsild.update.append_attributes` of an update of each entity over its stored
  form freshly decoded (the merge of `hub.batch.upsert(..., replace=False)`); `decode_us` is
  that decoding (`orjson.loads`, what `store.get` adds), not included in `merge_us`.

`--unique-times` gives every reading its own observedAt (the parser remembers the few a batch
shares, as the default entities do).

Usage: python bench/parse.py [--entities 20000] [--runs 5] [--unique-times]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from cityentities import city_entities

from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.entity import EntityParser, index_leaves
from cityhub.ngsild.update import append_attributes

NOW, LATER = "2026-12-01T00:00:00.000Z", "2026-12-01T00:00:01.000Z"


def payloads(count: int, seed: int, unique_times: bool) -> list[dict]:
    items = city_entities(count, seed=seed)
    if unique_times:
        for i, item in enumerate(items):
            for member in item.values():
                if isinstance(member, dict) and "observedAt" in member:
                    member["observedAt"] = (f"2026-11-22T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
                                            f"{i % 60:02d}.{i % 1000:03d}Z")
    return items


def per_entity_us(run: Callable[[], float], count: int, runs: int) -> float:
    return round(statistics.median(run() for _ in range(runs)) / count * 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--unique-times", action="store_true")
    args = parser.parse_args()
    terms = core_term_map()
    first = payloads(args.entities, 7, args.unique_times)
    second = payloads(args.entities, 8, args.unique_times)
    parsed = [EntityParser(terms, NOW).entity(item) for item in first]
    documents = [orjson.dumps(entity) for entity in parsed]
    updates = [EntityParser(terms, LATER).entity(item) for item in second]
    gc.collect()
    gc.freeze()

    def parse(fast_paths: bool) -> Callable[[], float]:
        def run() -> float:
            entity_parser = EntityParser(terms, NOW)
            if not fast_paths:
                entity_parser.fast_paths = False
            started = time.process_time()
            for item in first:
                entity_parser.entity(item)
            return time.process_time() - started
        return run

    def leaves() -> float:
        started = time.process_time()
        for entity in parsed:
            index_leaves(entity)
        return time.process_time() - started

    def decode() -> float:
        started = time.process_time()
        for document in documents:
            orjson.loads(document)
        return time.process_time() - started

    def merge() -> float:
        stored = [orjson.loads(document) for document in documents]
        started = time.process_time()
        for entity, update in zip(stored, updates, strict=True):
            append_attributes(entity, update["attrs"], overwrite=True)
        return time.process_time() - started

    figures: dict = {"benchmark": "parse", "entities": args.entities, "runs": args.runs,
                     "unique_times": args.unique_times}
    figures["parse_us"] = per_entity_us(parse(True), args.entities, args.runs)
    if hasattr(EntityParser(terms, NOW), "fast_paths"):
        figures["parse_general_path_us"] = per_entity_us(parse(False), args.entities,
                                                         args.runs)
    figures["index_leaves_us"] = per_entity_us(leaves, args.entities, args.runs)
    figures["merge_us"] = per_entity_us(merge, args.entities, args.runs)
    figures["decode_us"] = per_entity_us(decode, args.entities, args.runs)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
