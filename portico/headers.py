"""Header names shared by the gateway, the runtime and the tests (Kong's where it has one)."""

API_KEY = "apikey"  # Kong key-auth's default key name
REQUEST_ID = "X-Request-ID"  # the correlation-id header, set by the gateway, echoed by functions
CONSUMER_USERNAME = "X-Consumer-Username"  # Kong's upstream headers naming the authenticated caller
CONSUMER_ID = "X-Consumer-ID"
RETRY_AFTER = "Retry-After"
SERVER_NAME = "portico"  # every Portico server's Server header: no software, no version

AUTHORIZATION = "Authorization"  # where JWTs come (Bearer)
# Headers a client must never be able to set for itself: the gateway strips them.
GATEWAY_ASSERTED = (
    CONSUMER_USERNAME,
    CONSUMER_ID,
    "X-Consumer-Custom-ID",
    "X-Anonymous-Consumer",
    "X-Credential-Identifier",
)
# The gateway proves itself to a function with the deployment's secret in this header; a
# function believes GATEWAY_ASSERTED headers only from a request carrying it.
GATEWAY_SECRET = "X-Portico-Gateway-Secret"
IDEMPOTENCY_KEY = "Idempotency-Key"  # IETF httpapi draft: an sf-string, quoted (bare accepted)
IDEMPOTENT_REPLAYED = "Idempotent-Replayed"  # "true" on a replayed response
COLD_START = "X-Portico-Cold-Start"  # "true" when the request started its function
COLD_START_MS = "X-Portico-Cold-Start-Ms"  # how long that start took
SERVER_TIMING = "Server-Timing"  # W3C Server Timing: the effects ledger (PORTICO_SERVER_TIMING=1)
