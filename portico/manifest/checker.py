"""The checking framework: a `Checker` collects errors with their field paths and lines, and a
`Section` reads the fields of one mapping through parsers that raise ValueError.

Readers record an error and fall back to the default for an invalid value, so that checking
goes on and every problem is reported; whatever was built is thrown away if any were found.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from portico.manifest.errors import ManifestError
from portico.manifest.lines import FieldPath, LineIndex, dotted
from portico.manifest.routes import Route
from portico.manifest.wording import describe, did_you_mean, display, listing

_T = TypeVar("_T")
_D = TypeVar("_D")


@dataclass
class Checker:
    file: Path
    lines: LineIndex
    errors: list[ManifestError] = dataclasses.field(default_factory=list)

    def error(self, at: FieldPath, message: str, *, key: bool = False) -> None:
        line = self.lines.line(at, key=key)
        self.errors.append(ManifestError(self.file, dotted(at), line, message))

    def section(self, value: object, at: FieldPath, fields: Collection[str]) -> Section | None:
        """`value` as a mapping with the given fields (all optional; unknown ones reported)."""
        if not isinstance(value, dict):
            self.error(
                at, f"expected a mapping with the fields {listing(fields)}, got {describe(value)}"
            )
            return None
        for name in value:
            if name not in fields:
                self.error(
                    (*at, str(name)),
                    f"unknown field {name!r} (expected one of: {listing(fields)})"
                    f"{did_you_mean(str(name), fields)}",
                    key=True,
                )
        return Section(self, at, value)

    def parse(
        self, value: object, at: FieldPath, parse: Callable[[object], _T], default: _D
    ) -> _T | _D:
        try:
            return parse(value)
        except ValueError as exc:
            self.error(at, str(exc))
            return default


@dataclass
class Section:
    checker: Checker
    at: FieldPath
    values: dict[Any, object]

    def get(self, name: str, parse: Callable[[object], _T], default: _D) -> _T | _D:
        """The field parsed, or `default` if it is absent or invalid (an error is recorded)."""
        if name not in self.values:
            return default
        return self.checker.parse(self.values[name], (*self.at, name), parse, default)

    def require(self, name: str, parse: Callable[[object], _T], example: str) -> _T | None:
        if name not in self.values:
            self.missing(name, example)
            return None
        return self.get(name, parse, None)

    def missing(self, name: str, example: str) -> None:
        self.checker.error((*self.at, name), f"missing required field {name!r} (e.g. {example})")

    def child(self, name: str, fields: Collection[str]) -> Section | None:
        if name not in self.values:
            return None
        return self.checker.section(self.values[name], (*self.at, name), fields)

    def module_file(self, name: str, reference: str, what: str) -> tuple[Path, str]:
        """The file and attribute `reference` ('src/claims.submit') names, beside the manifest;
        a missing file is reported on the field `name`."""
        module, attr = reference.rsplit(".", 1)
        path = self.checker.file.parent / f"{module}.py"
        if not path.is_file():
            self.checker.error(
                (*self.at, name),
                f"expected the {what} module {module}.py next to the manifest, "
                f"but {display(path)} does not exist",
            )
        return path, attr

    def misplaced(self, name: str, route: Route | None, allowed: Collection[str], why: str) -> bool:
        """Report and return True if the field is set on a route whose method does not allow
        it. An invalid route (None) was reported already, so nothing more is said about it."""
        if name not in self.values or route is None or route.method in allowed:
            return False
        message = f"not allowed on a {route.method} route: {why}"
        self.checker.error((*self.at, name), message, key=True)
        return True
