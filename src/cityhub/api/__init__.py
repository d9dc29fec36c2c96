"""The HTTP adapter: NGSI-LD routes, content negotiation, ProblemDetails errors."""
