"""Ingestion: devices and open-data files into the broker core as Smart Data Model entities.

A service over `cityhub.broker.Hub` (never the store): `registry` maps devices to entities,
`payloads` parses MQTT messages (JSON, UltraLight 2.0), `pipeline` validates (`validate`,
rules from `sdm_rules`), de-identifies (`privacy`), checks quality (`quality`) and writes in
batches, rejecting bad records into the dead-letter store (`deadletter`) and counting them per
source (`counters`); `mqtt` is the gateway to an MQTT broker, `files` the CSV/GeoJSON importer
driven by a YAML `mapping`.
"""
