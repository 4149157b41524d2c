"""The chart's README.md, rendered from its values.yaml: every value with its type, default and
the comments written next to it (helm-docs style, without the Go binary).

Where a description comes from, in values.yaml:
- the comment lines directly above a key (no blank line between) describe it;
- a comment at the end of a key's line describes it too, continued by comment lines below it
  that start in the same column;
- a comment block with a blank line before the next key introduces that key's section (at the
  top level) or is put in front of its description;
- the first comment block of the file, before any key, is the README's introduction;
- an indented comment line (`#   --set x=y`) is kept as written: a code block in a section's
  introduction, inline code in a table.

Every top-level key is a section with one table: a row for every leaf (a scalar, a list, a
flow mapping such as `{cpu: 50m}`) and for every nested mapping that has a description. The
generated block (below GENERATED_MARKER, rendered from the manifests) has no comments; its
fields are described here (GENERATED_FIELDS).

`render(values_text)` is pure. `python -m portico.render.chart_readme [VALUES] [README]` writes
charts/portico/README.md from charts/portico/values.yaml.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from portico.render.values import GENERATED_MARKER

REGENERATE = "portico render chart-readme"
TITLE = "# The Portico chart"

# The generated block's fields, per function (generated.functions.<name>.<field>) and overall.
GENERATED_FIELDS = {
    "kind": "`http` (a route, served through the gateway) or `worker` (a queue trigger)",
    "timeoutSeconds": "the manifest's `function.timeout_seconds`",
    "concurrency": "requests one pod serves at once (Knative's `containerConcurrency` and "
    "autoscaling target); 1 for a worker",
    "minScale": "the manifest's `function.scale.min` (0: scales to zero)",
    "maxScale": "the manifest's `function.scale.max`",
    "memory": "the container's memory limit (the manifest's `function.memory`)",
    "route": "the manifest's `api.route`",
    "upstreamTimeoutSeconds": "how long the gateway waits for the function: its timeout plus "
    "the gateway margin (Knative's `timeoutSeconds`, Kong's service timeouts)",
    "queue": "the RQ queue the worker takes its jobs from (KEDA watches `rq:queue:<queue>`)",
}
GENERATED_VALUES = {
    "generated.functions": "one entry per function manifest, keyed by the function's name",
    "generated.kongConfig": "Kong's declarative config for the functions' routes, without "
    "consumers; a template (`tpl`) for the release's names, namespace and Redis",
    "generated.devConsumers": "the dev consumers alice and bob in the consumers-file format, "
    "for `consumers.devConsumers=true`",
}

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_][A-Za-z0-9_.\-/]*):(?:[ \t]+(?P<rest>.*))?$")


@dataclass
class DocumentedKey:
    """A documented key: its dotted path, whether it is a leaf, and its description (comment
    lines as written, without their `#`)."""

    path: tuple[str, ...]
    leaf: bool
    description: list[str] = field(default_factory=list)
    intro: list[str] = field(default_factory=list)  # a blank-line-separated block above it
    trailing_column: int | None = None


@dataclass
class DocumentedValues:
    introduction: list[str]
    entries: list[DocumentedKey]
    values: dict[str, Any]


def render(values_text: str) -> str:
    """The README for a values.yaml."""
    document = parse(values_text)
    out = [TITLE, ""]
    out.append(
        "<!-- Rendered from values.yaml by portico.render.chart_readme: do not edit. "
        f"Regenerate with `{REGENERATE}`. -->"
    )
    out.append("")
    if document.introduction:
        out += [*_paragraphs(document.introduction), ""]
    out += ["## Values", ""]
    for top, entries in _sections(document.entries):
        out += [f"### `{top.path[0]}`", ""]
        intro = _joined(top.intro, [] if top.leaf else _description(top))
        if intro:
            out += [*_paragraphs(intro), ""]
        rows = [top] if top.leaf else [e for e in entries[1:] if e.leaf or _description(e)]
        out += ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
        for entry in rows:
            out.append(_row(entry, document.values))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def parse(values_text: str) -> DocumentedValues:
    loaded = yaml.safe_load(values_text)
    values: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
    lines = values_text.splitlines()
    introduction: list[str] | None = None
    entries: list[DocumentedKey] = []
    stack: list[tuple[int, str]] = []
    pending: list[str] = []  # comment lines directly above what comes next
    notes: list[str] = []  # comment blocks separated from what comes next by a blank line
    previous: DocumentedKey | None = None  # the last key, for its trailing comment's continuation
    skip_deeper_than: int | None = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if skip_deeper_than is not None:
            if (
                not stripped
                or indent > skip_deeper_than
                or (indent == skip_deeper_than and stripped.startswith("- "))
            ):
                continue  # a block scalar's or a block sequence's content
            skip_deeper_than = None
        if not stripped:
            if pending:
                if introduction is None and not entries:
                    introduction = pending
                else:
                    notes += pending
                pending = []
            previous = None
            continue
        if stripped.startswith("#"):
            text = _comment_text(stripped)
            column = line.index("#")
            if previous is not None and previous.trailing_column == column:
                previous.description.append(text)
            else:
                previous = None
                pending.append(text)
            continue
        match = _KEY.match(line)
        if match is None:
            raise ValueError(f"values.yaml: cannot document the line {line!r}")
        key = match.group("key")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = (*(k for _, k in stack), key)
        value_text, trailing, at = _split_comment(match.group("rest") or "", line)
        entry = DocumentedKey(path, leaf=True, description=pending, intro=notes)
        pending, notes = [], []
        if trailing is not None:
            entry.description.append(trailing)
            entry.trailing_column = at
        if value_text in ("", "|", ">", "|-", ">-", "|+", ">+"):
            nested = _lookup(values, path)
            if value_text or not isinstance(nested, dict) or not nested:
                skip_deeper_than = indent  # a block scalar, or a block sequence
            else:
                entry.leaf = False
                stack.append((indent, key))
        entries.append(entry)
        previous = entry
    return DocumentedValues(introduction or [], entries, values)


def _sections(entries: list[DocumentedKey]) -> list[tuple[DocumentedKey, list[DocumentedKey]]]:
    sections: list[tuple[DocumentedKey, list[DocumentedKey]]] = []
    for entry in entries:
        if len(entry.path) == 1:
            sections.append((entry, []))
        sections[-1][1].append(entry)
    return sections


def _description(entry: DocumentedKey) -> list[str]:
    """A key's description: its comments, or, in the generated block, what GENERATED_FIELDS
    says. The generated block's marker comment is replaced by words for a reader."""
    if entry.path == ("generated",) and entry.description == [GENERATED_MARKER[2:]]:
        return [
            "Rendered by `portico render values` (`make render`) from the function manifests"
            " (functions/*.yaml): do not edit it by hand. Override a field like any value,"
            " e.g. `--set generated.functions.get-claim.maxScale=2`."
        ]
    if entry.description:
        return entry.description
    dotted = ".".join(entry.path)
    if dotted in GENERATED_VALUES:
        return [GENERATED_VALUES[dotted]]
    if entry.path[:2] == ("generated", "functions") and len(entry.path) == 4:
        return [GENERATED_FIELDS.get(entry.path[3], "")]
    return []


def _row(entry: DocumentedKey, values: dict[str, Any]) -> str:
    dotted = ".".join(entry.path)
    value = _lookup(values, entry.path)
    intro = entry.intro if len(entry.path) > 1 else []  # a section's is its paragraph
    description = _cell(intro + _description(entry))
    if entry.leaf:
        cells = [f"`{dotted}`", _type(value), _default(value), description]
    else:
        cells = [f"`{dotted}`", "object", "", description]
    return "| " + " | ".join(cells) + " |"


def _lookup(values: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        values = values.get(key) if isinstance(values, dict) else None
    return values


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null"


def _default(value: Any) -> str:
    if isinstance(value, str) and "\n" in value:
        return f"(rendered, {value.count(chr(10))} lines: see values.yaml)"
    text = json.dumps(value, separators=(", ", ": "))
    return "`" + text.replace("|", "\\|") + "`"


def _comment_text(stripped: str) -> str:
    text = stripped[1:]
    return text[1:] if text.startswith(" ") else text


def _split_comment(rest: str, line: str) -> tuple[str, str | None, int | None]:
    """A value and its trailing comment (a `#` after whitespace, outside quotes)."""
    quote = ""
    for index, char in enumerate(rest):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#" and (index == 0 or rest[index - 1] in " \t"):
            column = len(line) - len(rest) + index
            return rest[:index].strip(), _comment_text(rest[index:].strip()), column
    return rest.strip(), None, None


def _joined(first: list[str], second: list[str]) -> list[str]:
    """Two blocks of comment lines as two paragraphs."""
    return [*first, "", *second] if first and second else first or second


def _prose(text: str) -> str:
    """Markdown for comment prose: `<name>` and `*` as written (outside code spans), never read
    as an HTML tag or emphasis."""
    parts = text.split("`")
    for index in range(0, len(parts), 2):  # outside code spans
        parts[index] = parts[index].replace("<", "\\<").replace("*", "\\*")
    return "`".join(parts)


def _is_code(text: str) -> bool:
    return text.startswith("  ")


def _paragraphs(lines: list[str]) -> list[str]:
    """Comment lines as markdown: prose joined into paragraphs, indented lines as code."""
    out: list[str] = []
    prose: list[str] = []
    code: list[str] = []

    def flush_prose() -> None:
        if prose:
            out.extend([_prose(" ".join(prose)), ""])
            prose.clear()

    def flush_code() -> None:
        if code:
            indent = min(len(c) - len(c.lstrip(" ")) for c in code)
            out.extend(["```", *(c[indent:] for c in code), "```", ""])
            code.clear()

    for text in lines:
        if _is_code(text):
            flush_prose()
            code.append(text)
        elif not text.strip():
            flush_prose()
            flush_code()
        else:
            flush_code()
            prose.append(text.strip())
    flush_prose()
    flush_code()
    return out[:-1] if out and out[-1] == "" else out


def _cell(lines: list[str]) -> str:
    """Comment lines as one table cell: prose joined, indented lines as inline code."""
    parts: list[str] = []
    for text in lines:
        if _is_code(text):
            parts.append("<br>`" + text.strip() + "`")
        elif text.strip():
            parts.append((" " if parts else "") + _prose(text.strip()))
    return "".join(parts).replace("|", "\\|").strip()
