"""The NGSI-LD domain: contexts, entity normal form, query languages, errors. No I/O."""
