"""CityHub: an open smart-city data hub built on an NGSI-LD context broker."""

__version__ = "0.1.0"
