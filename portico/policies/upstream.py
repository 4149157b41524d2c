"""What a gateway does to a request's headers before the function sees it: one description
that the dev gateway applies (portico.gateway.app) and the Kong render is built from
(portico.render.kong).

- The route's credentials (the `apikey` header, or the JWT's `Authorization`) are checked by
  the gateway and never forwarded: a function has no use for them and should not hold them.
- The caller's identity (GATEWAY_ASSERTED) is the gateway's to state; whatever a client sent
  under those names is dropped.
- The deployment's gateway secret is added, and a client's own copy dropped: it is how a
  function knows the identity headers came from the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass

from portico import headers
from portico.manifest import Api

# In the rendered Kong config, where the secret goes; `portico kong-config` (the chart's Kong
# init container) puts the value of PORTICO_GATEWAY_SECRET in its place. It is also Kong's own
# env-vault reference syntax, so a Kong that resolves references in this field needs no init.
SECRET_REFERENCE = "{vault://env/portico-gateway-secret}"


@dataclass(frozen=True)
class HeaderPolicy:
    credentials: tuple[str, ...]  # checked by the gateway, then removed
    asserted: tuple[str, ...]  # the gateway's to set: client copies removed
    secret: str  # added by the gateway, client copies removed

    def removed(self) -> frozenset[str]:
        """Lower-case names of client headers that never reach the function."""
        return frozenset(h.lower() for h in (*self.credentials, *self.asserted, self.secret))


def header_policy(api: Api) -> HeaderPolicy:
    if api.auth != "required":
        credentials: tuple[str, ...] = ()
    elif api.jwt is not None:
        credentials = (headers.AUTHORIZATION,)
    else:
        credentials = (headers.API_KEY,)
    return HeaderPolicy(credentials, headers.GATEWAY_ASSERTED, headers.GATEWAY_SECRET)
