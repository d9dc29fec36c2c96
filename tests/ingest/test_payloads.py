"""Topics and device payloads: JSON and UltraLight 2.0, and what is refused."""

from __future__ import annotations

import pytest

from cityhub.ingest.payloads import (
    MAX_PAYLOAD,
    BadPayload,
    parse_payload,
    parse_topic,
    parse_ultralight,
)


def test_topics_name_tenant_device_and_format() -> None:
    topic = parse_topic("cityhub/sejong/aq-001/attrs")
    assert (topic.tenant, topic.device_id, topic.format) == ("sejong", "aq-001", None)
    assert parse_topic("cityhub/default/aq-001/attrs").tenant == ""
    assert parse_topic("cityhub/t/d/attrs/ul").format == "ul"
    assert parse_topic("cityhub/t/d/attrs/json").format == "json"


@pytest.mark.parametrize("topic", ["cityhub/t/d", "other/t/d/attrs", "cityhub/t/d/cmd",
                                   "cityhub/t/d/attrs/xml", "cityhub/t/d/attrs/ul/more"])
def test_bad_topics_are_refused(topic: str) -> None:
    with pytest.raises(BadPayload):
        parse_topic(topic)


def test_json_payload_with_time_and_units() -> None:
    [m] = parse_payload(b'{"pm25": 12.5, "no2": {"value": 0.02, "unitCode": "59"}, '
                        b'"observedAt": "2026-05-01T09:00:00+09:00"}')
    assert m.values == {"pm25": 12.5, "no2": 0.02}
    assert m.units == {"no2": "59"}
    assert m.observed_at == "2026-05-01T00:00:00.000Z"


def test_json_list_is_several_measurements() -> None:
    found = parse_payload(b'[{"pm25": 1, "observedAt": "2026-05-01T00:00:00Z"}, {"pm25": 2}]')
    assert [m.values["pm25"] for m in found] == [1, 2]
    assert found[1].observed_at is None


def test_ultralight_pairs_numbers_and_strings() -> None:
    [m] = parse_payload(b"pm25|12|t|20.5|st|ok")
    assert m.values == {"pm25": 12, "t": 20.5, "st": "ok"}
    assert m.observed_at is None


def test_ultralight_timestamps_and_groups() -> None:
    found = parse_ultralight(b"2026-05-01T09:00:00Z|pm25|3#pm25|4|TimeInstant|"
                             b"2026-05-01T10:00:00Z")
    assert [(m.values, m.observed_at) for m in found] == [
        ({"pm25": 3}, "2026-05-01T09:00:00.000Z"), ({"pm25": 4}, "2026-05-01T10:00:00.000Z")]


def test_format_is_sniffed_or_forced() -> None:
    assert parse_payload(b'  {"a": 1}')[0].values == {"a": 1}
    with pytest.raises(BadPayload):
        parse_payload(b'{"a": 1}', "ul")  # forced UltraLight: not key|value


@pytest.mark.parametrize("payload", [
    b"{broken", b'"text"', b"[]", b"{}", b'{"a b": 1}', b'{"a": 1, "observedAt": "soon"}',
    b"pm25|1|t", b"", b"\xff\xfe|1", b"|1", b"pm25|1|observedAt|yesterday",
    b'{"a": {"value": 1, "unitCode": 5}}',
])
def test_malformed_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(BadPayload):
        parse_payload(payload)


def test_oversized_payloads_are_refused() -> None:
    with pytest.raises(BadPayload, match="larger"):
        parse_payload(b"a|" + b"1" * MAX_PAYLOAD)
