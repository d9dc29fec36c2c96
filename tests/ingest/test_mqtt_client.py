"""The gateway's MQTT 5 packet reading: packets split anyhow across reads, PUBLISH fields."""

from __future__ import annotations

import pytest

from cityhub.ingest.mqtt_client import (
    ClientOptions,
    MqttFailure,
    PacketReader,
    connect_packet,
    decode_publish,
    packet,
    varint,
)


def publish(topic: str, payload: bytes, packet_id: int = 7, properties: bytes = b"") -> bytes:
    body = (len(topic).to_bytes(2, "big") + topic.encode() + packet_id.to_bytes(2, "big")
            + varint(len(properties)) + properties + payload)
    return packet(0x32, body)


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 50])
def test_packets_split_across_reads_come_out_whole(cut: int) -> None:
    stream = b"".join(publish(f"cityhub/t/d{i}/attrs", b'{"pm25": %d}' % i, i + 1)
                      for i in range(20)) + publish("cityhub/t/big/attrs", b"x" * 300)
    reader = PacketReader()
    packets = []
    for start in range(0, len(stream), cut):
        packets += reader.feed(stream[start:start + cut])
    assert len(packets) == 21
    topic, payload, qos, packet_id = decode_publish(*packets[3])
    assert (topic, payload, qos, packet_id) == ("cityhub/t/d3/attrs", b'{"pm25": 3}', 1,
                                               (4).to_bytes(2, "big"))
    assert decode_publish(*packets[20])[1] == b"x" * 300  # a two-byte length


def test_publish_properties_are_skipped() -> None:
    properties = b"\x01\x01" + b"\x03" + (4).to_bytes(2, "big") + b"json"
    [(first, body)] = PacketReader().feed(publish("a/b", b"data", 9, properties))
    assert decode_publish(first, body)[:2] == ("a/b", b"data")


def test_malformed_lengths_are_refused() -> None:
    with pytest.raises(MqttFailure):
        PacketReader().feed(b"\x30\xff\xff\xff\xff\x01")


def test_connect_asks_for_a_kept_session_and_a_large_receive_maximum() -> None:
    data = connect_packet(ClientOptions("h", 1, "user", "secret", "cid", ("t/#",)))
    assert data[0] == 0x10 and b"MQTT\x05" in data
    flags = data[data.index(b"MQTT\x05") + 5]
    assert flags & 0x02 == 0 and flags & 0xC0 == 0xC0  # no clean start; user and password
    assert b"\x11\xff\xff\xff\xff" in data and b"\x21" + (10_000).to_bytes(2, "big") in data
