"""De-identification of personal data at ingest, and the public view's generalisation.

Personal values (vehicle plates, MAC addresses of phones seen by people counters, a wearable's
identity) are replaced by a keyed pseudonym before anything is stored: HMAC-SHA256 under the
current key, written as ``pse:<keyId>:<32 hex digits>`` so that the key can be rotated (new
values use the new key; each stored pseudonym names the key that made it). The same value under
the same key gives the same pseudonym, so records stay linkable (counting distinct vehicles)
without the clear value. Positions of people are generalised (rounded to a grid) at ingest.

Public views (`generalise_point`, `suppress_small`) coarsen locations further and hide any
aggregate of fewer than k individuals.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from cityhub.ngsild.errors import BadRequestData

log = logging.getLogger("cityhub.ingest.privacy")

PREFIX = "pse:"
#: attribute names that hold personal data whatever a mapping says (defence in depth)
PERSONAL_NAMES = frozenset({
    "macAddress", "mac", "macAddresses", "bluetoothAddress", "wifiAddress",
    "vehiclePlate", "vehiclePlateIdentifier", "licensePlate", "licencePlate", "plate",
    "plateNumber", "imsi", "imei", "phoneNumber", "personId", "wearerId",
})
#: `privacy` values of a mapped attribute
PSEUDONYMISE = "pseudonymise"
GENERALISE = "generalise"
PRIVACY_KINDS = frozenset({PSEUDONYMISE, GENERALISE})


def parse_keys(text: str) -> tuple[tuple[str, bytes], ...]:
    """``kid:secret,kid:secret`` (the first is current) as (key id, key bytes) pairs."""
    keys = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key_id, sep, secret = part.partition(":")
        if not sep or not key_id.isalnum() or len(secret) < 16:
            raise BadRequestData("pseudonym keys are KEYID:SECRET pairs, the key id "
                                 "alphanumeric, the secret at least 16 characters")
        keys.append((key_id, secret.encode()))
    if not keys:
        raise BadRequestData("no pseudonym key given")
    return tuple(keys)


class Pseudonymiser:
    """Keyed pseudonyms under a ring of keys; the first key makes new pseudonyms."""

    def __init__(self, keys: Iterable[tuple[str, bytes]] | None = None) -> None:
        ring = tuple(keys or ())
        #: no key configured: a random one, said once when first used
        self.ephemeral = not ring
        if not ring:
            ring = (("ephemeral", secrets.token_bytes(32)),)
        self.keys: dict[str, bytes] = dict(ring)
        self.current = ring[0][0]

    def _warn_once(self) -> None:
        if self.ephemeral:
            self.ephemeral = False
            log.warning("no pseudonym key configured (CITYHUB_PSEUDONYM_KEYS): using a random "
                        "key for this process; pseudonyms will not match across restarts")

    def pseudonym(self, value: Any, key_id: str | None = None) -> str:
        self._warn_once()
        key_id = key_id or self.current
        text = value if isinstance(value, str) else repr(value)
        # normalise what a sensor may vary: case and separators of plates and MACs
        canonical = "".join(ch for ch in text.upper() if ch.isalnum()) or text
        digest = hmac.new(self.keys[key_id], canonical.encode(), hashlib.sha256).hexdigest()
        return f"{PREFIX}{key_id}:{digest[:32]}"

    def digest(self, payload: bytes) -> str:
        """A keyed digest of a raw payload (a plain hash of a short plate could be reversed
        by trying every plate; a keyed one cannot without the key)."""
        digest = hmac.new(self.keys[self.current], payload, hashlib.sha256).hexdigest()
        return f"{PREFIX}{self.current}:{digest[:32]}"

    def matches(self, value: Any, pseudonym: str) -> bool:
        """Whether `pseudonym` (made under any key of the ring) is that of `value`."""
        _, _, rest = pseudonym.partition(PREFIX)
        key_id, _, _ = rest.partition(":")
        if key_id not in self.keys:
            return False
        return hmac.compare_digest(self.pseudonym(value, key_id), pseudonym)


def is_pseudonym(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def round_point(coordinates: Any, decimals: int) -> list[float]:
    """A [lon, lat] point rounded to `decimals` places (3: about 110 m)."""
    lon, lat = coordinates[0], coordinates[1]
    return [round(float(lon), decimals), round(float(lat), decimals)]


def generalise_geometry(geometry: Mapping[str, Any], decimals: int) -> dict[str, Any]:
    """A GeoJSON geometry reduced to the rounded point of its first position."""
    coordinates: Any = geometry.get("coordinates")
    while isinstance(coordinates, list) and coordinates and isinstance(coordinates[0], list):
        coordinates = coordinates[0]
    if not (isinstance(coordinates, list) and len(coordinates) >= 2):
        raise BadRequestData("a location to generalise needs coordinates")
    return {"type": "Point", "coordinates": round_point(coordinates, decimals)}


def grid_cell(coordinates: Any, cell_degrees: float) -> tuple[float, float]:
    """The centre of the grid cell (cell_degrees wide) holding a [lon, lat] point."""
    lon, lat = float(coordinates[0]), float(coordinates[1])
    return (round((math.floor(lon / cell_degrees) + 0.5) * cell_degrees, 6),
            round((math.floor(lat / cell_degrees) + 0.5) * cell_degrees, 6))


def suppress_small(counts: Mapping[Any, int], k: int) -> tuple[dict[Any, int], int]:
    """The groups of at least `k` members, and how many members the hidden groups held."""
    kept = {group: n for group, n in counts.items() if n >= k}
    return kept, sum(n for n in counts.values() if n < k)
