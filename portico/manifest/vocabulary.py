"""The manifest's closed vocabularies: HTTP methods, auth modes and resource kinds.

Each is a `Literal` (the type) and a tuple of its words in the order error messages list them,
so a value read from YAML stays the plain string it was and a comparison with a word outside
the vocabulary is a type error.
"""

from __future__ import annotations

from typing import Literal, get_args

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
HTTP_METHODS: tuple[HttpMethod, ...] = get_args(HttpMethod)
# The methods whose requests carry a body (validated, size-limited, described in OpenAPI).
BODY_METHODS: frozenset[HttpMethod] = frozenset({"POST", "PUT", "PATCH"})
STATE_CHANGING_METHODS: frozenset[HttpMethod] = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# `api.auth`: "required" takes an API key (or a JWT, with `api.jwt`); "none" lets anyone call.
Auth = Literal["required", "none"]
AUTH_MODES: tuple[Auth, ...] = get_args(Auth)

# `resources.<binding>.kind`, or the binding name's suffix (`_store`, `_queue`).
ResourceKind = Literal["store", "queue"]
RESOURCE_KINDS: tuple[ResourceKind, ...] = get_args(ResourceKind)
