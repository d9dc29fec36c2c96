"""The city model and the virtual city.

A city model (road network with routing, districts, buildings, points of interest) comes from a
real OpenStreetMap extract (`osm`) or the synthetic generator (`synthetic`); `assets` places the
city's simulated devices and facilities on it as Smart Data Model entities; `simulator` makes
their readings (with faults recorded as ground truth) and `publish` delivers them in-process or
over MQTT. `virtual` writes a whole city through the broker core; `service` runs it inside
`cityhub serve`. Everything simulated is labelled so (docs/city.md).
"""
