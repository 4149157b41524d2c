"""The chart's README.md: rendered from values.yaml's comments (portico/render/chart_readme.py),
current, and listing every value with its default and a description."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from portico.render import chart_readme
from tests.chart.helm import CHART

VALUES_TEXT = (CHART / "values.yaml").read_text()
README = CHART / "README.md"


def test_the_committed_chart_readme_is_current():
    assert README.read_text() == chart_readme.render(VALUES_TEXT), (
        "charts/portico/README.md is stale (values.yaml changed): run "
        "`make render` (which also rewrites values.yaml's generated block)"
    )


def rows(markdown: str) -> dict[str, list[str]]:
    """The tables' rows, by key: [type, default, description]."""
    found = {}
    for line in markdown.splitlines():
        match = re.fullmatch(r"\| `([^`]+)` \| (.*) \|", line)
        if match:
            found[match.group(1)] = re.split(r"(?<!\\) \| ", match.group(2))
    return found


def paths(values: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key of values.yaml, nested ones included."""
    if isinstance(values, dict):
        for key, value in values.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))


README_ROWS = rows(README.read_text())


def documented_at(path: tuple[str, ...]) -> tuple[str, ...] | None:
    """The row a key is documented in: its own, or a flow mapping's it is part of."""
    for length in range(len(path), 0, -1):
        if ".".join(path[:length]) in README_ROWS:
            return path[:length]
    return None


def test_every_value_is_in_the_readme_with_its_type_and_default():
    values = yaml.safe_load(VALUES_TEXT)
    for path in paths(values):
        row = documented_at(path)
        if row is None:  # a mapping written as a block: its keys have rows of their own
            assert isinstance(dig(values, path), dict), path
            continue
        kind, default, _ = README_ROWS[".".join(row)]
        value = dig(values, row)
        if kind == "object" and not default:
            continue  # a block mapping with a description of its own
        if isinstance(value, str) and "\n" in value:
            assert default.startswith("(rendered"), row
        else:
            assert json.loads(default.strip("`").replace("\\|", "|")) == value, row


def dig(values: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        values = values[key]
    return values


def test_every_value_has_a_description_of_its_own_or_of_its_mapping():
    """A row says what its value is for, or the mapping it is in does (resources.requests
    under a described resources)."""
    undescribed = []
    for key, (_, _, description) in README_ROWS.items():
        path = key.split(".")
        around = [".".join(path[:n]) for n in range(len(path) - 1, 1, -1)]
        if not description.strip() and not any(
            README_ROWS.get(k, ["", "", ""])[2].strip() for k in around
        ):
            undescribed.append(key)
    assert not undescribed, (
        "values without a comment (write one above the key, or at the end of its line): "
        + ", ".join(undescribed)
    )


# --- The renderer, on small inputs -----------------------------------------------------------


SAMPLE = """\
# The intro: what these values are.
#   --set a.b=1

# An introduction to the first section,
# over two lines.

# What first is.
first:
  # A leaf, described above.
  plain: 1
  trailing: "x # not a comment"   # described at the end of its line,
                                  # and on the next line in the same column
  # Pipes | and <angle> brackets and a * are kept as text.
  odd: a
  flow: {cpu: 50m}
  # A nested mapping with words of its own.
  nested:
    deep: true
  list:
    - {name: one}
    - name: two
      other: field
  text: |
    not: a key
    # not a comment
top: null
"""


def test_comments_above_a_key_and_at_the_end_of_its_line_describe_it():
    readme = chart_readme.render(SAMPLE)
    found = rows(readme)
    assert found["first.plain"] == ["int", "`1`", "A leaf, described above."]
    assert found["first.trailing"] == [
        "string",
        '`"x # not a comment"`',
        "described at the end of its line, and on the next line in the same column",
    ]
    assert found["first.odd"][2] == r"Pipes \| and \<angle> brackets and a \* are kept as text."
    assert found["first.flow"][:2] == ["object", '`{"cpu": "50m"}`']
    assert found["first.nested"] == ["object", "", "A nested mapping with words of its own."]
    assert found["first.nested.deep"][:2] == ["bool", "`true`"]
    assert found["first.list"][:2] == [
        "list",
        '`[{"name": "one"}, {"name": "two", "other": "field"}]`',
    ]
    assert found["first.text"][:2] == ["string", "(rendered, 2 lines: see values.yaml)"]
    assert found["top"][:2] == ["null", "`null`"]
    assert "first.list.name" not in found and "first.text.not" not in found


def test_the_first_block_introduces_the_readme_and_a_detached_block_its_section():
    readme = chart_readme.render(SAMPLE)
    intro, values = readme.split("## Values", 1)
    assert "The intro: what these values are.\n\n```\n--set a.b=1\n```" in intro
    section = values.split("### `first`", 1)[1].split("| Key |", 1)[0]
    assert "An introduction to the first section, over two lines.\n\nWhat first is." in section


def test_a_line_it_cannot_read_is_refused_not_skipped():
    with pytest.raises(ValueError, match="cannot document"):
        chart_readme.render('first:\n  "a quoted key": 1\n')
