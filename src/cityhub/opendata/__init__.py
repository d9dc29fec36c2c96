"""Open data: the DCAT-AP catalogue of published datasets (one per tenant and entity type),
their bulk export formats and the usage counters. Pure parts; routes in `api.opendata`."""
