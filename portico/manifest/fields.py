"""What a valid value is for each kind of field: whole numbers in a range, text matching a
pattern, one word of a vocabulary. Each parser returns the value or raises ValueError saying
what was expected."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from portico.manifest.vocabulary import AUTH_MODES, RESOURCE_KINDS, ResourceKind
from portico.manifest.wording import describe, did_you_mean

_W = TypeVar("_W", bound=str)


@dataclass(frozen=True)
class WholeNumber:
    low: int
    high: int | None = None
    unit: str = ""

    @property
    def description(self) -> str:
        number = f"whole number of {self.unit}" if self.unit else "whole number"
        if self.high is not None:
            return f"a {number} from {self.low} to {self.high}"
        return f"a positive {number}" if self.low == 1 else f"a {number}, {self.low} or more"

    def _in_range(self, value: int) -> bool:
        return self.low <= value and (self.high is None or value <= self.high)

    def __call__(self, value: object) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and self._in_range(value):
            return value
        quoted = isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value)
        hint = " (a string: write the number without quotes)" if quoted else ""
        raise ValueError(f"expected {self.description}, got {describe(value)}{hint}")


@dataclass(frozen=True)
class Text:
    pattern: re.Pattern[str]
    description: str

    def __call__(self, value: object) -> str:
        if isinstance(value, str) and self.pattern.fullmatch(value):
            return value
        raise ValueError(f"expected {self.description}, got {describe(value)}")


@dataclass(frozen=True)
class OneOf(Generic[_W]):
    """One word of a vocabulary (a tuple of a `Literal`'s words)."""

    options: tuple[_W, ...]

    def __call__(self, value: object) -> _W:
        for option in self.options:
            if isinstance(value, str) and value == option:
                return option
        hint = did_you_mean(value, self.options) if isinstance(value, str) else ""
        expected = " or ".join(repr(option) for option in self.options)
        raise ValueError(f"expected {expected}, got {describe(value)}{hint}")


NAME = Text(
    re.compile(r"(?!.{64})[a-z]([-a-z0-9]*[a-z0-9])?"),
    "a DNS-1123 label (lower-case letters, digits and '-'; starting with a letter, ending with "
    "a letter or digit; at most 63 characters) such as 'submit-claim'",
)
QUEUE_NAME = Text(
    re.compile(r"(?!.{101})[a-z0-9][a-z0-9._-]*"),
    "a queue name (lower-case letters, digits, '.', '_' and '-'; starting with a letter or "
    "digit; at most 100 characters) such as 'claim-review-jobs'",
)
STORE_NAME = Text(
    re.compile(r"[a-z][a-z0-9_]*"),
    "a store name (lower-case letters, digits and '_', starting with a letter) such as 'claims'",
)
RESOURCE_NAMES: dict[ResourceKind, Text] = {"store": STORE_NAME, "queue": QUEUE_NAME}
HANDLER = Text(
    re.compile(r"[A-Za-z_]\w*(/[A-Za-z_]\w*)*\.[A-Za-z_]\w*", re.ASCII),
    "'<module path>.<function>' such as 'src/claims.submit' (function submit in src/claims.py)",
)
MEMORY = Text(re.compile(r"[1-9][0-9]*(Mi|Gi)"), "a memory size such as '256Mi' or '1Gi'")
ORIGIN = Text(
    re.compile(r"\*|https?://[^/\s]+"),
    "'*' or an origin such as 'https://app.example.com' (scheme, host and port; no path)",
)
AUTH = OneOf(AUTH_MODES)
RESOURCE_KIND = OneOf(RESOURCE_KINDS)
AUDIENCE = Text(re.compile(r"[^\s]{1,200}"), "an audience such as 'portico-claims' (no spaces)")

TIMEOUT = WholeNumber(1, 900, "seconds")
CONCURRENCY = WholeNumber(1, 1000)
RETRIES = WholeNumber(0, 20)
MIN_REPLICAS = WholeNumber(0, unit="replicas")
MAX_REPLICAS = WholeNumber(1, unit="replicas")
REQUESTS = WholeNumber(1, unit="requests")
BYTES = WholeNumber(1, unit="bytes")
SECONDS = WholeNumber(1, unit="seconds")
SECONDS_OR_ZERO = WholeNumber(0, unit="seconds")
HOURS = WholeNumber(1, unit="hours")

BASE_URL = Text(
    re.compile(r"https?://[^/\s?#]+(/[^\s?#]*)?"),
    "a base URL such as 'http://payments.internal:8080' or 'https://api.example.com/v1'",
)
ENV_VARIABLE = Text(
    re.compile(r"[A-Z][A-Z0-9_]{0,99}"),
    "an environment variable name (upper-case letters, digits and '_') such as "
    "'PAYMENT_PROVIDER_URL'",
)
LINT_CODE = Text(re.compile(r"PB[0-9]{3}"), "a boundary rule code such as 'PB101'")
REASON = Text(
    re.compile(r"(?s)\s*\S.{0,499}"),
    "a reason (text, at most 500 characters) saying why the rule does not apply",
)
DEPENDENCY_RETRIES = WholeNumber(0, 5)


@dataclass(frozen=True)
class Seconds:
    """A duration in seconds, fractions allowed (a dependency call is often well under one)."""

    low: float
    high: float

    def __call__(self, value: object) -> float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and self.low < float(value) <= self.high:  # type: ignore[arg-type]
            return float(value)  # type: ignore[arg-type]
        raise ValueError(
            f"expected a number of seconds above {self.low:g} and at most {self.high:g} "
            f"(such as 2 or 0.5), got {describe(value)}"
        )


DEPENDENCY_TIMEOUT = Seconds(0.0, 900.0)
