"""The dev gateway: Kong's behaviour on a laptop. An aiohttp app (`app`) routes each request
(`calls`: its function, its body) through the policies and the response cache (`cache`), on a
server with Kong's limits and rejections (`server`). It enforces `portico.policies` and wakes
functions at zero through `portico.local.scaler`.

Installed with the `local` extra; in a cluster, Kong is the gateway.

May import: the top-level modules, `portico.manifest`, `portico.policies` and `portico.local`.
"""
