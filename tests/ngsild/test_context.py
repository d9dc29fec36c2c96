"""@context compilation: term expansion and compaction, the core context prevailing."""

from __future__ import annotations

import pytest

from cityhub.ngsild.context import (
    CORE_CONTEXT_FILES,
    DEFAULT_VOCAB,
    compile_context,
    core_term_map,
    shipped_document,
)
from cityhub.ngsild.errors import BadRequestData

SDM = "https://smartdatamodels.org/dataModel.Environment/"


def no_load(url: str) -> object:
    raise AssertionError(f"{url} must not be fetched")


def test_core_terms_expand_to_ngsi_ld_iris() -> None:
    terms = core_term_map()
    assert terms.expand("location") == "https://uri.etsi.org/ngsi-ld/location"
    assert terms.expand("observedAt") == "https://uri.etsi.org/ngsi-ld/observedAt"
    assert terms.compact("https://uri.etsi.org/ngsi-ld/location") == "location"


def test_unknown_terms_use_the_default_vocabulary_both_ways() -> None:
    terms = core_term_map()
    assert terms.expand("pm25") == DEFAULT_VOCAB + "pm25"
    assert terms.compact(DEFAULT_VOCAB + "pm25") == "pm25"


def test_absolute_iris_stay_as_they_are() -> None:
    terms = core_term_map()
    assert terms.expand(SDM + "pm25") == SDM + "pm25"
    assert terms.compact(SDM + "pm25") == SDM + "pm25"


def test_user_terms_prefixes_and_term_references() -> None:
    context = {"sdm": SDM, "pm25": "sdm:pm25", "fine": "pm25", "pm10": {"@id": SDM + "pm10"}}
    terms = compile_context(context, no_load)
    assert terms.expand("pm25") == SDM + "pm25"
    assert terms.expand("fine") == SDM + "pm25"
    assert terms.expand("pm10") == SDM + "pm10"
    assert terms.expand("sdm:no2") == SDM + "no2"
    assert terms.compact(SDM + "pm10") == "pm10"


def test_the_core_context_prevails_over_user_definitions() -> None:
    terms = compile_context({"location": "https://example.org/where"}, no_load)
    assert terms.expand("location") == "https://uri.etsi.org/ngsi-ld/location"


def test_vocab_of_the_user_context() -> None:
    terms = compile_context({"@vocab": "https://example.org/vocab#"}, no_load)
    assert terms.expand("anything") == "https://example.org/vocab#anything"
    assert terms.compact("https://example.org/vocab#anything") == "anything"


def test_remote_documents_come_from_the_loader_and_nest() -> None:
    documents = {
        "https://example.org/a.jsonld": {"@context": ["https://example.org/b.jsonld",
                                                      {"pm25": SDM + "pm25"}]},
        "https://example.org/b.jsonld": {"@context": {"no2": SDM + "no2"}},
    }
    terms = compile_context("https://example.org/a.jsonld", documents.__getitem__)
    assert terms.expand("pm25") == SDM + "pm25"
    assert terms.expand("no2") == SDM + "no2"


def test_core_urls_never_reach_the_loader() -> None:
    for url in CORE_CONTEXT_FILES:
        compile_context([url, {"x": SDM + "x"}], no_load)
        assert shipped_document(url) is not None


@pytest.mark.parametrize("context", [42, "https://example.org/not-a-context", [7]])
def test_bad_contexts_are_bad_request_data(context: object) -> None:
    def load(url: str) -> object:
        return {"no": "context"}

    with pytest.raises(BadRequestData):
        compile_context(context, load)


def test_self_nesting_contexts_are_refused() -> None:
    loop = {"https://example.org/loop": {"@context": "https://example.org/loop"}}
    with pytest.raises(BadRequestData):
        compile_context("https://example.org/loop", loop.__getitem__)
