"""Errors of the city model: NGSI-LD errors, so they render as ProblemDetails anywhere."""

from __future__ import annotations

from cityhub.ngsild.errors import BadRequestData


class CityFileError(BadRequestData):
    """An OpenStreetMap extract that cannot be imported: missing, corrupt, hostile, empty."""

    title = "Unusable city file"
