"""The store contract: one suite, run on every Store adapter (fixtures: tests/conftest.py)."""
