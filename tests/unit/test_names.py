"""One of each: no two classes in `portico/` share a name, so a name says which one is meant
(in a traceback, a log line, a grep, a dotted path such as gunicorn's worker_class)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "portico"


def classes(package: Path = PACKAGE) -> dict[str, list[str]]:
    """Class name -> every place it is defined (nested classes included), as path:line."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ClassDef):
                found[node.name].append(f"{path.relative_to(package.parent)}:{node.lineno}")
    return found


def shared_names(package: Path = PACKAGE) -> dict[str, list[str]]:
    return {name: places for name, places in classes(package).items() if len(places) > 1}


def test_no_two_classes_share_a_name():
    shared = shared_names()
    assert not shared, "classes sharing a name (rename one so each says what it is):\n" + "\n".join(
        f"  {name}: {', '.join(places)}" for name, places in sorted(shared.items())
    )


def test_the_check_finds_a_shared_name(tmp_path):
    (tmp_path / "a.py").write_text("class Worker:\n    pass\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("def f():\n    class Worker:\n        pass\n")
    (tmp_path / "c.py").write_text("class Other:\n    pass\n")
    here = tmp_path.name
    assert shared_names(tmp_path) == {"Worker": [f"{here}/a.py:1", f"{here}/sub/b.py:2"]}
