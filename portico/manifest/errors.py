"""Manifest errors: each names the file, the dotted field path and the line."""

from __future__ import annotations

from pathlib import Path

from portico.manifest.wording import display


class ManifestError(Exception):
    """One problem, located by file, dotted field path ("" for the whole file) and line."""

    def __init__(self, file: Path, field: str, line: int | None, message: str) -> None:
        super().__init__(file, field, line, message)
        self.file = file
        self.field = field
        self.line = line
        self.message = message

    def __str__(self) -> str:
        line = f":{self.line}" if self.line is not None else ""
        field = f"{self.field}: " if self.field else ""
        return f"{display(self.file)}{line}: {field}{self.message}"


class ManifestErrors(Exception):
    def __init__(self, errors: list[ManifestError]) -> None:
        super().__init__(errors)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)
