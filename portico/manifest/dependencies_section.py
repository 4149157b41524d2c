"""Reading the `dependencies` section (the systems a handler calls while its client waits) and
the `lint` section (boundary rules silenced for this function, each with a reason)."""

from __future__ import annotations

import keyword

from portico.manifest import fields
from portico.manifest.checker import Section
from portico.manifest.model import Dependency, StandIn
from portico.manifest.wording import describe

DEPENDENCY_FIELDS = ("url_env", "url", "timeout_seconds", "retries", "stand_in")
DEFAULT_DEPENDENCY_TIMEOUT_SECONDS = 2.0


def read_dependencies(top: Section, taken: set[str]) -> tuple[Dependency, ...]:
    """Each dependency of the function; `taken` holds the resource bindings' names."""
    if "dependencies" not in top.values:
        return ()
    value = top.values["dependencies"]
    if not isinstance(value, dict) or not value:
        top.checker.error(
            ("dependencies",),
            "expected a mapping of binding names to dependencies such as "
            "{payments: {url_env: PAYMENT_PROVIDER_URL, timeout_seconds: 2}}, "
            f"got {describe(value)}",
        )
        return ()
    section = Section(top.checker, ("dependencies",), value)
    found = (_dependency(section, binding, taken) for binding in value)
    return tuple(dependency for dependency in found if dependency is not None)


def _dependency(section: Section, binding: object, taken: set[str]) -> Dependency | None:
    at = (*section.at, str(binding))
    if not (isinstance(binding, str) and binding.isidentifier() and not keyword.iskeyword(binding)):
        section.checker.error(
            at,
            "expected a Python identifier as the binding name (it becomes an attribute of "
            f"the handler's context), got {describe(binding)}",
            key=True,
        )
        return None
    if binding in taken:
        section.checker.error(
            at,
            f"{binding!r} is already a resource binding; a context attribute has one meaning",
            key=True,
        )
        return None
    entry = section.child(binding, DEPENDENCY_FIELDS)
    if entry is None:
        return None
    default_env = f"PORTICO_DEPENDENCY_{binding.upper()}_URL"
    url_env = entry.get("url_env", fields.ENV_VARIABLE, default_env)
    url = entry.get("url", fields.BASE_URL, None)
    timeout = entry.get(
        "timeout_seconds", fields.DEPENDENCY_TIMEOUT, DEFAULT_DEPENDENCY_TIMEOUT_SECONDS
    )
    retries = entry.get("retries", fields.DEPENDENCY_RETRIES, 0)
    stand_in = _stand_in(entry)
    return Dependency(binding, url_env, url, timeout, retries, stand_in)


def _stand_in(entry: Section) -> StandIn | None:
    if "stand_in" not in entry.values:
        return None
    serve = entry.get("stand_in", fields.HANDLER, None)
    if serve is None:
        return None
    app_file, attr = entry.module_file("stand_in", serve, "stand-in's")
    return StandIn(serve, app_file, attr)


def read_lint(top: Section) -> tuple[tuple[str, str], ...]:
    lint = top.child("lint", ("allow",))
    if lint is None:
        return ()
    if "allow" not in lint.values:
        lint.missing("allow", "allow: {PB101: 'why the rule does not apply here'}")
        return ()
    value = lint.values["allow"]
    if not isinstance(value, dict) or not value:
        lint.checker.error(
            (*lint.at, "allow"),
            "expected a mapping of rule codes to reasons such as "
            f"{{PB101: 'the fraud check must answer before we accept'}}, got {describe(value)}",
        )
        return ()
    allow = Section(lint.checker, (*lint.at, "allow"), value)
    allowed = []
    for code in value:
        if lint.checker.parse(code, (*allow.at, str(code)), fields.LINT_CODE, None) is None:
            continue
        reason = allow.get(code, fields.REASON, None)
        if reason is not None:
            allowed.append((code, reason.strip()))
    return tuple(allowed)
