"""The temporal API's pure part: timerel, durations, aggregation methods, lastN, payloads and
the temporal representations (`ngsild.temporal`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityhub.ngsild.context import core_term_map
from cityhub.ngsild.entity import EntityParser, format_datetime
from cityhub.ngsild.errors import BadRequestData, ResourceNotFound
from cityhub.ngsild.temporal import (
    AGGREGATION_METHODS,
    AggregatedPeriod,
    HistoryInstance,
    TemporalPayloadParser,
    TemporalRenderOptions,
    TimeInterval,
    epoch_ms,
    format_duration,
    from_epoch_ms,
    instance_id,
    parse_aggr_methods,
    parse_duration,
    parse_instance_id,
    parse_last_n,
    parse_temporal_query,
    parse_time,
    parse_timeproperty,
    parse_timerel,
    period_bounds,
    render_aggregated_entity,
    render_temporal_entity,
)

TERMS = core_term_map()
T = TERMS.expand("temperature")
NOW = "2024-05-01T12:00:00.000Z"

# ------------------------------------------------------------------------------- timerel


def test_no_timerel_is_the_whole_history() -> None:
    assert parse_timerel(None, None, None) == TimeInterval()


@pytest.mark.parametrize(("timerel", "interval"), [
    ("before", TimeInterval(end="2024-05-01T10:00:00.000Z")),
    ("after", TimeInterval(start="2024-05-01T10:00:00.000Z")),
])
def test_before_and_after_bound_one_side(timerel: str, interval: TimeInterval) -> None:
    assert parse_timerel(timerel, "2024-05-01T10:00:00Z", None) == interval


def test_between_is_half_open_and_times_are_normalised_to_utc() -> None:
    assert parse_timerel("between", "2024-05-01T19:00:00+09:00", "2024-05-01T11:00:00.5Z") == \
        TimeInterval("2024-05-01T10:00:00.000Z", "2024-05-01T11:00:00.500Z")


def test_an_unencoded_plus_of_an_offset_still_parses() -> None:
    assert parse_time("2024-05-01T19:00:00 09:00", "timeAt") == "2024-05-01T10:00:00.000Z"


@pytest.mark.parametrize(("args", "message"), [
    (("before", None, None), "needs timeAt"),
    (("between", "2024-05-01T10:00:00Z", None), "needs endTimeAt"),
    (("between", "2024-05-01T10:00:00Z", "2024-05-01T09:00:00Z"), "later than timeAt"),
    (("between", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"), "later than timeAt"),
    (("after", "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z"), "only used with"),
    ((None, "2024-05-01T10:00:00Z", None), "need timerel"),
    (("during", "2024-05-01T10:00:00Z", None), "before, after or between"),
    (("after", "yesterday", None), "timeAt"),
    (("after", "2024-02-30T10:00:00Z", None), "timeAt"),
    (("between", "2024-05-01T10:00:00Z", "2024-05-01T25:00:00Z"), "endTimeAt"),
])
def test_timerel_errors(args: tuple, message: str) -> None:
    with pytest.raises(BadRequestData, match=message):
        parse_timerel(*args)


moments = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=9)),
                                                  timezone(timedelta(hours=-5, minutes=-30))]))


@given(moments)
def test_every_iso_form_of_a_moment_parses_to_its_utc_millisecond(moment: datetime) -> None:
    expected = format_datetime(moment)  # UTC, milliseconds (truncated)
    utc = moment.astimezone(UTC)
    for text in (moment.isoformat(), moment.isoformat(timespec="milliseconds"),
                 utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), utc.strftime("%Y-%m-%dT%H:%M:%S.%f")):
        assert parse_time(text, "timeAt") == expected, text
    assert epoch_ms(expected) == (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        milliseconds=1)


@given(moments, moments)
def test_between_accepts_exactly_the_increasing_pairs(a: datetime, b: datetime) -> None:
    first, second = (t.isoformat(timespec="milliseconds") for t in (a, b))
    if format_datetime(a) < format_datetime(b):
        interval = parse_timerel("between", first, second)
        assert interval.start == format_datetime(a) and interval.end == format_datetime(b)
    else:
        with pytest.raises(BadRequestData):
            parse_timerel("between", first, second)


@given(st.text(max_size=40))
def test_any_text_as_time_at_parses_or_is_bad_request_data(text: str) -> None:
    try:
        result = parse_timerel("after", text, None)
    except BadRequestData:
        return
    assert result.start is not None and len(result.start) == 24


@given(st.integers(-10**13, 10**13))
def test_epoch_milliseconds_round_trip(ms: int) -> None:
    assert epoch_ms(from_epoch_ms(ms)) == ms


# ------------------------------------------------------------------------------ durations


@pytest.mark.parametrize(("text", "ms"), [
    ("PT1H", 3_600_000), ("P1D", 86_400_000), ("PT15M", 900_000), ("PT0S", 0), ("P0D", 0),
    ("P1W", 7 * 86_400_000), ("P1DT2H3M4.5S", 93_784_500), ("PT0.001S", 1), ("PT1,5S", 1500),
    ("PT36H", 129_600_000), ("P0Y0M1D", 86_400_000),
])
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(("text", "message"), [
    ("P1M", "years or months"), ("P1Y", "years or months"), ("P1Y2D", "years or months"),
    ("PT1H30", "not an ISO 8601"), ("P", "not an ISO 8601"), ("PT", "not an ISO 8601"),
    ("P1DT", "not an ISO 8601"), ("1H", "not an ISO 8601"), ("pt1h", "not an ISO 8601"),
    ("-PT1H", "not an ISO 8601"), ("PT1.5H", "not an ISO 8601"), ("P1H", "not an ISO 8601"),
    ("PT0.0001S", "finer than a millisecond"), ("P40000D", "longer than 100 years"),
    ("", "not an ISO 8601"), (" PT1H", "not an ISO 8601"),
])
def test_duration_errors(text: str, message: str) -> None:
    with pytest.raises(BadRequestData, match=message):
        parse_duration(text)


@given(st.integers(0, 3 * 10**12))
def test_durations_round_trip(ms: int) -> None:
    assert parse_duration(format_duration(ms)) == ms


@given(st.text(alphabet="PTYMWDHS0123456789.,-", max_size=16))
def test_any_duration_text_parses_to_a_whole_number_or_is_bad_request_data(text: str) -> None:
    try:
        ms = parse_duration(text)
    except BadRequestData:
        return
    assert isinstance(ms, int) and ms >= 0
    assert parse_duration(format_duration(ms)) == ms


# ---------------------------------------------------------------- other query parameters


def test_aggregation_methods() -> None:
    assert parse_aggr_methods("avg,max, avg") == ("avg", "max")
    assert parse_aggr_methods(list(AGGREGATION_METHODS)) == AGGREGATION_METHODS
    for bad in ("median", "avg,", "", "AVG", 3):
        with pytest.raises(BadRequestData):
            parse_aggr_methods(bad)


@pytest.mark.parametrize("bad", ["0", "-1", "1.5", "x", "", " 1", "10000000000", True, 0, 2.0])
def test_last_n_is_a_positive_integer(bad: object) -> None:
    with pytest.raises(BadRequestData, match="lastN"):
        parse_last_n(bad)


def test_last_n_values() -> None:
    assert (parse_last_n(None), parse_last_n("3"), parse_last_n(7)) == (None, 3, 7)


def test_timeproperty() -> None:
    assert [parse_timeproperty(p) for p in (None, "createdAt", "modifiedAt")] == [
        "observedAt", "createdAt", "modifiedAt"]
    for bad in ("deletedAt", "observedat", ""):
        with pytest.raises(BadRequestData, match="timeproperty"):
            parse_timeproperty(bad)


def test_aggregation_needs_methods_and_methods_need_aggregation() -> None:
    with pytest.raises(BadRequestData, match="needs aggrMethods"):
        parse_temporal_query(aggregated=True)
    with pytest.raises(BadRequestData, match="need options=aggregatedValues"):
        parse_temporal_query(aggr_methods="avg")
    with pytest.raises(BadRequestData, match="need options=aggregatedValues"):
        parse_temporal_query(aggr_period="PT1H")
    query = parse_temporal_query(aggregated=True, aggr_methods="sum", aggr_period="PT1H",
                                 timerel="after", time_at="2024-05-01T00:30:00Z", last_n="2")
    assert query.aggregation is not None and query.aggregation.period_ms == 3_600_000
    assert (query.last_n, query.origin_ms) == (2, epoch_ms("2024-05-01T00:30:00.000Z"))


def test_periods_start_at_time_at_and_are_clipped_to_the_interval() -> None:
    query = parse_temporal_query(timerel="between", time_at="2024-05-01T00:30:00Z",
                                 end_time_at="2024-05-01T02:00:00Z", aggregated=True,
                                 aggr_methods="avg", aggr_period="PT1H")
    assert period_bounds(query, 0, "", "") == ("2024-05-01T00:30:00.000Z",
                                               "2024-05-01T01:30:00.000Z")
    assert period_bounds(query, 1, "", "") == ("2024-05-01T01:30:00.000Z",
                                               "2024-05-01T02:00:00.000Z")


def test_without_time_at_periods_are_whole_utc_hours_and_one_period_spans_the_data() -> None:
    hourly = parse_temporal_query(aggregated=True, aggr_methods="avg", aggr_period="PT1H")
    index = epoch_ms("2024-05-01T10:00:00.000Z") // 3_600_000
    assert period_bounds(hourly, index, "", "") == ("2024-05-01T10:00:00.000Z",
                                                    "2024-05-01T11:00:00.000Z")
    whole = parse_temporal_query(aggregated=True, aggr_methods="avg", timerel="before",
                                 time_at="2024-06-01T00:00:00Z")
    assert period_bounds(whole, 0, "2024-05-01T10:05:00.000Z", "2024-05-02T00:00:00.000Z") == (
        "2024-05-01T10:05:00.000Z", "2024-06-01T00:00:00.000Z")


def test_instance_ids() -> None:
    assert parse_instance_id(instance_id(42)) == 42
    for bad in ("urn:ngsi-ld:Instance:", "urn:ngsi-ld:Instance:x", "urn:x:1", "42"):
        with pytest.raises(ResourceNotFound):
            parse_instance_id(bad)


# -------------------------------------------------------------------------------- payloads


def test_a_temporal_entity_holds_instances_of_any_datasets_repeated() -> None:
    head, attrs = TemporalPayloadParser(TERMS, NOW).entity({
        "id": "urn:ngsi-ld:Sensor:1", "type": "Sensor",
        "temperature": [
            {"type": "Property", "value": 20, "observedAt": "2024-05-01T10:00:00Z",
             "instanceId": "urn:ngsi-ld:Instance:9"},
            {"value": 21, "observedAt": "2024-05-01T11:00:00Z"},
            {"value": 22, "datasetId": "urn:ngsi-ld:Dataset:b"},
            {"value": 23, "datasetId": "urn:ngsi-ld:Dataset:b"},
        ],
        "status": "on",
    })
    assert head == {"id": "urn:ngsi-ld:Sensor:1", "type": [TERMS.expand("Sensor")], "attrs": {}}
    assert [i["value"] for i in attrs[T]] == [20, 21, 22, 23]
    assert "instanceId" not in str(attrs)
    assert attrs[TERMS.expand("status")] == [
        {"type": "Property", "value": "on", "createdAt": NOW, "modifiedAt": NOW}]


@pytest.mark.parametrize("payload", [
    [], {"id": "urn:x:1", "type": "T", "temperature": []},
    {"id": "not a uri", "type": "T"}, {"id": "urn:x:1"},
    {"id": "urn:x:1", "type": "T", "location": [{"value": 3}]},
    {"id": "urn:x:1", "type": "T", "temperature": [{"value": 1, "observedAt": "soon"}]},
])
def test_bad_temporal_payloads(payload: object) -> None:
    with pytest.raises(BadRequestData):
        TemporalPayloadParser(TERMS, NOW).entity(payload)


def test_an_instance_fragment_may_omit_members() -> None:
    parser = TemporalPayloadParser(TERMS, NOW)
    assert parser.fragment("temperature", {"observedAt": "2024-05-01T10:00:00Z"}) == {
        "observedAt": "2024-05-01T10:00:00.000Z", "createdAt": NOW, "modifiedAt": NOW}
    assert parser.fragment("temperature", [{"value": 5}])["value"] == 5
    for bad in ([{"value": 1}, {"value": 2}], 5):
        with pytest.raises(BadRequestData):
            parser.fragment("temperature", bad)


# --------------------------------------------------------------------------- representations


def instance(value: object, observed: str, **extra: object) -> dict:
    inst = EntityParser(TERMS, NOW).instance("temperature", {"value": value,
                                                             "observedAt": observed, **extra})
    return inst


ENTITY = {"id": "urn:ngsi-ld:Sensor:1", "type": [TERMS.expand("Sensor")],
          "attrs": {T: [instance(21, "2024-05-01T11:00:00Z")]}}
HISTORY = [
    HistoryInstance(ENTITY["id"], T, instance_id(1), "2024-05-01T10:00:00.000Z",
                    instance(20, "2024-05-01T10:00:00Z", unitCode="CEL")),
    HistoryInstance(ENTITY["id"], T, instance_id(2), "2024-05-01T11:00:00.000Z",
                    instance(21, "2024-05-01T11:00:00Z")),
    HistoryInstance(ENTITY["id"], T, instance_id(3), "2024-05-01T11:30:00.000Z",
                    instance(5, "2024-05-01T11:30:00Z", datasetId="urn:ngsi-ld:Dataset:b")),
]


def test_normalized_temporal_representation_lists_every_instance_with_its_id() -> None:
    body = render_temporal_entity(ENTITY, HISTORY[:2], TERMS)
    assert body == {"id": ENTITY["id"], "type": "Sensor", "temperature": [
        {"type": "Property", "value": 20, "observedAt": "2024-05-01T10:00:00.000Z",
         "unitCode": "CEL", "instanceId": instance_id(1)},
        {"type": "Property", "value": 21, "observedAt": "2024-05-01T11:00:00.000Z",
         "instanceId": instance_id(2)},
    ]}
    with_sys = render_temporal_entity(ENTITY, HISTORY[:1], TERMS,
                                      TemporalRenderOptions(sys_attrs=True), NOW, NOW)
    assert with_sys["createdAt"] == NOW and with_sys["temperature"][0]["modifiedAt"] == NOW


def test_simplified_representation_groups_values_by_dataset() -> None:
    body = render_temporal_entity(ENTITY, HISTORY[:2], TERMS,
                                  TemporalRenderOptions(simplified=True))
    assert body["temperature"] == {"type": "Property", "values": [
        [20, "2024-05-01T10:00:00.000Z"], [21, "2024-05-01T11:00:00.000Z"]]}
    body = render_temporal_entity(ENTITY, HISTORY, TERMS, TemporalRenderOptions(simplified=True))
    assert body["temperature"] == [
        {"type": "Property", "values": [[20, "2024-05-01T10:00:00.000Z"],
                                        [21, "2024-05-01T11:00:00.000Z"]]},
        {"type": "Property", "datasetId": "urn:ngsi-ld:Dataset:b",
         "values": [[5, "2024-05-01T11:30:00.000Z"]]},
    ]


def test_simplified_members_follow_the_attribute_kind() -> None:
    parser = EntityParser(TERMS, NOW)
    rel = parser.instance("owner", {"object": "urn:ngsi-ld:Person:1"})
    name = parser.instance("name", {"languageMap": {"en": "one", "ko": "하나"}})
    owner, label = TERMS.expand("owner"), TERMS.expand("name")
    entity = {**ENTITY, "attrs": {}}
    items = [HistoryInstance(ENTITY["id"], owner, instance_id(1), NOW, rel),
             HistoryInstance(ENTITY["id"], label, instance_id(2), NOW, name)]
    body = render_temporal_entity(entity, items, TERMS, TemporalRenderOptions(simplified=True))
    assert body["owner"] == {"type": "Relationship", "objects": [["urn:ngsi-ld:Person:1", NOW]]}
    assert body["name"] == {"type": "LanguageProperty",
                            "languageMaps": [[{"en": "one", "ko": "하나"}, NOW]]}
    korean = render_temporal_entity(entity, items, TERMS,
                                    TemporalRenderOptions(simplified=True, lang="ko"))
    assert korean["name"]["languageMaps"] == [["하나", NOW]]


def test_aggregated_representation_lists_value_start_and_end_per_method() -> None:
    periods = [
        AggregatedPeriod(ENTITY["id"], T, None, "2024-05-01T10:00:00.000Z",
                         "2024-05-01T11:00:00.000Z", {"avg": 20.0, "totalCount": 1}),
        AggregatedPeriod(ENTITY["id"], T, None, "2024-05-01T11:00:00.000Z",
                         "2024-05-01T12:00:00.000Z", {"avg": 13.0, "totalCount": 2}),
        AggregatedPeriod(ENTITY["id"], TERMS.expand("status"), "urn:ngsi-ld:Dataset:b",
                         "2024-05-01T10:00:00.000Z", "2024-05-01T11:00:00.000Z",
                         {"avg": None, "totalCount": 4}),
    ]
    body = render_aggregated_entity(ENTITY, periods, ("avg", "totalCount"), TERMS)
    assert body["temperature"] == {
        "type": "Property",
        "avg": [[20.0, "2024-05-01T10:00:00.000Z", "2024-05-01T11:00:00.000Z"],
                [13.0, "2024-05-01T11:00:00.000Z", "2024-05-01T12:00:00.000Z"]],
        "totalCount": [[1, "2024-05-01T10:00:00.000Z", "2024-05-01T11:00:00.000Z"],
                       [2, "2024-05-01T11:00:00.000Z", "2024-05-01T12:00:00.000Z"]],
    }
    assert body["status"] == [{
        "type": "Property", "datasetId": "urn:ngsi-ld:Dataset:b",
        "avg": [[None, "2024-05-01T10:00:00.000Z", "2024-05-01T11:00:00.000Z"]],
        "totalCount": [[4, "2024-05-01T10:00:00.000Z", "2024-05-01T11:00:00.000Z"]],
    }]
