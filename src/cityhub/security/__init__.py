"""Access control of the hub: who a request is (API keys, JWTs), what its role may do per
tenant and entity type, the audit log, and per-key rate limits. Pure decision logic; the ASGI
layer that applies it is `cityhub.api.auth`."""
