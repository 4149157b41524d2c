"""Loading manifests from disk: one file, or every manifest found under `functions/`."""

from __future__ import annotations

from pathlib import Path

import yaml

from portico.manifest.checker import Checker
from portico.manifest.deployment import check_deployment
from portico.manifest.errors import ManifestError, ManifestErrors
from portico.manifest.lines import read_document
from portico.manifest.model import Manifest
from portico.manifest.sections import build_manifest
from portico.manifest.wording import display

_SKIPPED_DIRECTORIES = frozenset({"migrations", "seed", "src", "tests"})
_MANIFEST_SECTIONS = frozenset({"api", "trigger", "function"})


def load_manifest(path: Path, *, composed: yaml.Node | None = None) -> Manifest:
    """Load and check one manifest; raise ManifestErrors listing every problem in the file.
    `composed`: the file's YAML node tree, when the caller has already composed it."""
    path = path.resolve()
    document, lines = read_document(path, composed)
    checker = Checker(path, lines)
    for at, first_line in lines.duplicates:
        checker.error(
            at,
            f"duplicate field {at[-1]!r} (first set on line {first_line}); "
            "YAML would silently keep only this last value",
            key=True,
        )
    manifest = build_manifest(checker, document)
    if checker.errors or manifest is None:
        raise ManifestErrors(sorted(checker.errors, key=lambda error: error.line or 0))
    return manifest


def load_all(functions_dir: Path) -> list[Manifest]:
    """Load every manifest under `functions_dir`, sorted by name, and check them together."""
    found = [(path, _manifest_node(path)) for path in _yaml_files(functions_dir)]
    paths = {path: node for path, (is_manifest, node) in found if is_manifest}
    if not paths:
        message = (
            f"no function manifests found under {display(functions_dir)} (expected "
            "<name>.yaml or <name>/function.yaml files with 'function' and 'api' or 'trigger')"
        )
        raise ManifestErrors([ManifestError(functions_dir, "", None, message)])
    manifests: list[Manifest] = []
    errors: list[ManifestError] = []
    for path, node in paths.items():
        try:
            manifests.append(load_manifest(path, composed=node))
        except ManifestErrors as exc:
            errors.extend(exc.errors)
    manifests.sort(key=lambda manifest: (manifest.name, str(manifest.path)))
    errors.extend(check_deployment(manifests))
    if errors:
        raise ManifestErrors(errors)
    return manifests


def _yaml_files(functions_dir: Path) -> list[Path]:
    return sorted(
        path
        for path in functions_dir.rglob("*")
        if path.suffix in (".yaml", ".yml")
        and path.is_file()
        and not _in_skipped_directory(path.relative_to(functions_dir))
    )


def _in_skipped_directory(relative_path: Path) -> bool:
    return any(
        part in _SKIPPED_DIRECTORIES or part.startswith(".") for part in relative_path.parts[:-1]
    )


def _manifest_node(path: Path) -> tuple[bool, yaml.Node | None]:
    """Whether a YAML file is a manifest, and its node tree when it had to be composed to tell
    (so that it is parsed once). Broken files count, so that their errors are shown rather than
    the function silently disappearing."""
    if path.stem == "function":
        return True, None
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return True, None
    is_manifest = isinstance(root, yaml.MappingNode) and any(
        isinstance(key, yaml.ScalarNode) and key.value in _MANIFEST_SECTIONS
        for key, _ in root.value
    )
    return is_manifest, root
