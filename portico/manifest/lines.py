"""Reading a manifest's YAML with the line of every field, by field path, so that an error can
point at the line to fix."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from portico.manifest.errors import ManifestError, ManifestErrors

# Where a field is in the document: mapping keys and list positions from the root.
FieldPath = tuple[str | int, ...]


def dotted(at: FieldPath) -> str:
    """The path as error messages write it: "api.request_validation[1]"."""
    text = ""
    for part in at:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass
class LineIndex:
    """1-based lines of the YAML nodes of one document, by field path."""

    values: dict[FieldPath, int] = dataclasses.field(default_factory=dict)
    keys: dict[FieldPath, int] = dataclasses.field(default_factory=dict)
    # (path of the repeated key, line of its first occurrence)
    duplicates: list[tuple[FieldPath, int]] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, root: yaml.Node) -> LineIndex:
        index = cls()
        index._visit(root, (), frozenset())
        return index

    def line(self, at: FieldPath, *, key: bool = False) -> int | None:
        """The line of the key (key=True) or value at `at`; for a field that is not written in
        the file, the line of its nearest written parent."""
        if key and at in self.keys:
            return self.keys[at]
        if at in self.values:
            return self.values[at]
        for end in range(len(at) - 1, -1, -1):
            line = self.keys.get(at[:end]) or self.values.get(at[:end])
            if line is not None:
                return line
        return None

    def _visit(self, node: yaml.Node, at: FieldPath, enclosing: frozenset[int]) -> None:
        if id(node) in enclosing:
            raise yaml.composer.ComposerError(
                problem="found an alias inside the node it refers to", problem_mark=node.start_mark
            )
        self.values[at] = node.start_mark.line + 1
        enclosing |= {id(node)}
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._visit(item, (*at, index), enclosing)
        elif isinstance(node, yaml.MappingNode):
            first_lines: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue  # the constructor rejects complex keys
                name, line = key_node.value, key_node.start_mark.line + 1
                if name in first_lines:
                    self.duplicates.append(((*at, name), first_lines[name]))
                first_lines.setdefault(name, line)
                self.keys[(*at, name)] = line
                self._visit(value_node, (*at, name), enclosing)


def read_document(path: Path, composed: yaml.Node | None = None) -> tuple[object, LineIndex]:
    """The file's YAML document and the lines of its fields; ManifestErrors if it cannot be
    read, is not YAML or is empty. `composed`: its node tree, already composed (not parsed
    again)."""

    def failure(message: str, line: int | None = None) -> ManifestErrors:
        return ManifestErrors([ManifestError(path, "", line, message)])

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise failure(f"cannot read the file: {exc}") from None
    try:
        parsed = _parse_yaml(text) if composed is None else _construct(composed)
    except yaml.MarkedYAMLError as exc:
        context = f"{exc.context}: " if exc.context else ""
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise failure(f"invalid YAML: {context}{exc.problem}", line) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        message = f"invalid YAML: {exc.reason} (character #x{exc.character:04x})"
        raise failure(message, line) from None
    if parsed is None:
        raise failure(
            "the file is empty; expected a manifest with 'function' and 'api' or 'trigger'"
        )
    return parsed


def _construct(root: yaml.Node) -> tuple[object, LineIndex]:
    """As _parse_yaml, from the node tree yaml.compose made of the text."""
    loader = yaml.SafeLoader("")
    try:
        lines = LineIndex.of(root)  # before constructing: merge keys rewrite the node tree
        return loader.construct_document(root), lines
    finally:
        loader.dispose()


def _parse_yaml(text: str) -> tuple[object, LineIndex] | None:
    """The document and the lines of its nodes; None for an empty document."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        lines = LineIndex.of(root)  # before constructing: merge keys rewrite the node tree
        return loader.construct_document(root), lines
    finally:
        loader.dispose()
