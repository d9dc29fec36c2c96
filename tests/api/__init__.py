"""Tests of the NGSI-LD HTTP API against a live hub (fixtures: tests/conftest.py, API section)."""
