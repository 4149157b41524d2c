"""Routes: parsing "METHOD /path", matching a request against one, and telling whether two
routes can match the same request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeGuard
from urllib.parse import unquote

from portico.manifest.vocabulary import HTTP_METHODS, HttpMethod
from portico.manifest.wording import did_you_mean

RESERVED_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})
RESERVED_SEGMENT = "_portico"  # the dev gateway's console, /_portico/
ROUTE_FORM = "'METHOD /path' such as 'POST /claims'"

_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LITERAL_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


@dataclass(frozen=True, slots=True)
class Route:
    method: HttpMethod
    path: str
    params: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Route:
        """Parse "METHOD /path"; raise ValueError saying what is wrong."""
        words = text.split()
        if len(words) != 2:
            raise ValueError(f"expected {ROUTE_FORM}, got {text!r}")
        method, path = words
        if not _is_http_method(method):
            hint = (
                f" (write {method.upper()!r})"
                if method.upper() in HTTP_METHODS
                else did_you_mean(method, HTTP_METHODS)
            )
            raise ValueError(
                f"expected one of {', '.join(HTTP_METHODS)} as the method, got {method!r}{hint}"
            )
        return cls(method, path, _path_params(path))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The URL-decoded path parameters if this route serves the request, else None.

        `path` is the request path without the query string.
        """
        return self._match_path(path) if method == self.method else None

    def matches_path(self, path: str) -> bool:
        return self._match_path(path) is not None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def _match_path(self, path: str) -> dict[str, str] | None:
        if not path.startswith("/"):
            return None
        pattern, segments = _segments(self.path), _segments(path)
        if len(pattern) != len(segments):
            return None
        params: dict[str, str] = {}
        # Split before decoding, so an encoded "/" (%2F) stays inside its segment.
        for expected, segment in zip(pattern, segments, strict=True):
            if not _is_param(expected):
                if unquote(segment) != expected:
                    return None
            elif segment:
                params[expected[1:-1]] = unquote(segment)
            else:
                return None
        return params


def overlap(first: Route, second: Route) -> bool:
    """Whether some request matches both routes."""
    if first.method != second.method:
        return False
    first_segments, second_segments = _segments(first.path), _segments(second.path)
    return len(first_segments) == len(second_segments) and all(
        one == other or _is_param(one) or _is_param(other)
        for one, other in zip(first_segments, second_segments, strict=True)
    )


def _is_http_method(word: str) -> TypeGuard[HttpMethod]:
    return word in HTTP_METHODS


def _path_params(path: str) -> tuple[str, ...]:
    if not path.startswith("/"):
        raise ValueError(f"expected the path to start with '/', got {path!r}")
    if path in RESERVED_PATHS or _segments(path)[:1] == (RESERVED_SEGMENT,):
        reserved = ", ".join([*sorted(RESERVED_PATHS), f"/{RESERVED_SEGMENT}/..."])
        raise ValueError(f"{path} is reserved by Portico and cannot be routed ({reserved})")
    if path != "/" and path.endswith("/"):
        raise ValueError(f"expected no trailing '/', got {path!r} (write {path.rstrip('/')!r})")
    params: list[str] = []
    for segment in _segments(path):
        if not segment:
            raise ValueError(f"expected no empty segments ('//') in the path, got {path!r}")
        if not _is_param(segment):
            if not _LITERAL_SEGMENT.fullmatch(segment):
                raise ValueError(
                    "expected path segments of letters, digits, '.', '_', '~' and '-', or a "
                    f"{{parameter}}, got {segment!r}"
                )
        elif not _PARAM_NAME.fullmatch(segment[1:-1]):
            raise ValueError(
                "expected a parameter name of letters, digits and '_' not starting with a "
                f"digit, got {segment!r}"
            )
        elif segment[1:-1] in params:
            raise ValueError(f"path parameter {segment} appears twice in {path!r}")
        else:
            params.append(segment[1:-1])
    return tuple(params)


def _segments(path: str) -> tuple[str, ...]:
    return () if path == "/" else tuple(path[1:].split("/"))


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")
