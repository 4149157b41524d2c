"""The HTTP parser limits of Portico's servers, in one place.

A gateway must accept no more than the function server behind it: otherwise a request the
gateway has authenticated, counted against a rate limit and forwarded is refused by the
function's parser instead (gunicorn's own error page rather than the gateway's answer). So the
function server's limits are the ceiling and the dev gateway's sit below them, leaving room for
the headers a gateway adds (Kong's nginx in the chart: `large_client_header_buffers`).
"""

from __future__ import annotations

# The function server (gunicorn): its request line is the method, the target and the version.
FUNCTION_REQUEST_LINE_BYTES = 8190  # gunicorn's maximum
FUNCTION_HEADER_LINE_BYTES = 16384  # a whole "Name: value" line
FUNCTION_HEADER_COUNT = 200

# The dev gateway (aiohttp): its limits apply to the request target, and to a header's name
# and its value each.
# The function's line adds the method (OPTIONS the longest a route takes) and " HTTP/1.1" to the
# target; a small margin on top.
GATEWAY_TARGET_BYTES = FUNCTION_REQUEST_LINE_BYTES - len("OPTIONS ") - len(" HTTP/1.1") - 15
GATEWAY_HEADER_PART_BYTES = 8190
GATEWAY_HEADER_COUNT = 100
# Headers the dev gateway adds or replaces on the way (Host, Content-Length, X-Request-ID,
# X-Forwarded-For, X-Forwarded-Proto, the caller's two, the gateway secret) and a margin.
GATEWAY_ADDED_HEADERS = 16
