"""Reading a whole manifest document: the top-level fields, the `function` and `trigger`
sections and the resources (the `api` section is read in `api_section`)."""

from __future__ import annotations

import keyword

from portico.manifest import fields
from portico.manifest.api_section import read_api
from portico.manifest.checker import Checker, Section
from portico.manifest.dependencies_section import read_dependencies, read_lint
from portico.manifest.model import FunctionSpec, Manifest, Resource, Scale, Trigger
from portico.manifest.wording import describe

_TOP_FIELDS = ("name", "api", "trigger", "function", "resources", "dependencies", "lint")
_FUNCTION_FIELDS = ("handler", "timeout_seconds", "concurrency", "scale", "memory")
_DEFAULT_SCALE = Scale(min=0, max=5)


def build_manifest(checker: Checker, document: object) -> Manifest | None:
    top = checker.section(document, (), _TOP_FIELDS)
    if top is None:
        return None
    _check_kind(top)
    name = _manifest_name(top)
    api = read_api(top)
    trigger = _trigger(top)
    function = _function(top)
    resources = _resources(top)
    dependencies = read_dependencies(top, {r.binding for r in resources})
    lint_allow = read_lint(top)
    if function is None:
        return None
    file = checker.file
    return Manifest(
        name,
        file,
        file.parent,
        api,
        trigger,
        function,
        resources,
        dependencies,
        lint_allow,
        checker.lines,
    )


def _check_kind(top: Section) -> None:
    has_api, has_trigger = "api" in top.values, "trigger" in top.values
    if has_api and has_trigger:
        top.checker.error(
            ("trigger",),
            "a function has either 'api' (served over HTTP) or 'trigger' (fed by a queue), "
            "not both",
            key=True,
        )
    elif not has_api and not has_trigger:
        top.checker.error(
            (),
            "missing 'api' or 'trigger': add 'api' (with a route) for an HTTP function, or "
            "'trigger' (with a queue) for a worker",
        )


def _manifest_name(top: Section) -> str:
    file = top.checker.file
    if "name" in top.values:
        return top.get("name", fields.NAME, file.stem)
    from_directory = file.stem == "function"
    name = file.parent.name if from_directory else file.stem
    if not fields.NAME.pattern.fullmatch(name):
        source = "directory name" if from_directory else "file name"
        top.checker.error(
            ("name",),
            f"the name {name!r} taken from the {source} is not {fields.NAME.description}; "
            "add a 'name:' field",
        )
    return name


def _function(top: Section) -> FunctionSpec | None:
    if "function" not in top.values:
        top.missing("function", "function: {handler: src/claims.submit}")
        return None
    function = top.child("function", _FUNCTION_FIELDS)
    if function is None:
        return None
    handler = function.require("handler", fields.HANDLER, "handler: src/claims.submit")
    timeout_seconds = function.get("timeout_seconds", fields.TIMEOUT, 10)
    concurrency = function.get("concurrency", fields.CONCURRENCY, 8)
    scale = _scale(function)
    memory = function.get("memory", fields.MEMORY, "256Mi")
    if handler is None:
        return None
    handler_file, attr = function.module_file("handler", handler, "handler")
    return FunctionSpec(handler, handler_file, attr, timeout_seconds, concurrency, scale, memory)


def _scale(function: Section) -> Scale:
    section = function.child("scale", ("min", "max"))
    if section is None:
        return _DEFAULT_SCALE
    scale = Scale(
        section.get("min", fields.MIN_REPLICAS, _DEFAULT_SCALE.min),
        section.get("max", fields.MAX_REPLICAS, _DEFAULT_SCALE.max),
    )
    if scale.min > scale.max:
        section.checker.error(
            section.at, f"expected min <= max, got min {scale.min} and max {scale.max}"
        )
    return scale


def _trigger(top: Section) -> Trigger | None:
    trigger = top.child("trigger", ("queue", "retries"))
    if trigger is None:
        return None
    queue = trigger.require("queue", fields.QUEUE_NAME, "queue: claim-review-jobs")
    retries = trigger.get("retries", fields.RETRIES, 3)
    return Trigger(queue, retries) if queue is not None else None


def _resources(top: Section) -> tuple[Resource, ...]:
    if "resources" not in top.values:
        return ()
    value = top.values["resources"]
    if not isinstance(value, dict):
        top.checker.error(
            ("resources",),
            "expected a mapping of binding names to resources such as "
            f"{{claims_store: claims}}, got {describe(value)}",
        )
        return ()
    resources = Section(top.checker, ("resources",), value)
    found = (_resource(resources, binding) for binding in value)
    return tuple(resource for resource in found if resource is not None)


def _resource(resources: Section, binding: object) -> Resource | None:
    at = (*resources.at, str(binding))
    if not (isinstance(binding, str) and binding.isidentifier() and not keyword.iskeyword(binding)):
        resources.checker.error(
            at,
            "expected a Python identifier as the binding name (it becomes an attribute of "
            f"the handler's context), got {describe(binding)}",
            key=True,
        )
        return None
    if isinstance(resources.values[binding], dict):
        return _explicit_resource(resources, binding)
    kind = next((kind for kind in fields.RESOURCE_NAMES if binding.endswith(f"_{kind}")), None)
    if kind is None:
        resources.checker.error(
            at,
            f"cannot tell the kind of resource {binding!r} from its name: end the name in "
            "_store or _queue, or write {kind: store|queue, name: ...}",
        )
        return None
    name = resources.get(binding, fields.RESOURCE_NAMES[kind], None)
    return Resource(binding, kind, name) if name is not None else None


def _explicit_resource(resources: Section, binding: str) -> Resource | None:
    section = resources.child(binding, ("kind", "name"))
    if section is None:
        return None
    kind = section.require("kind", fields.RESOURCE_KIND, "kind: queue")
    if kind is None:
        return None  # the name can only be checked against the rules of its kind
    name = section.require("name", fields.RESOURCE_NAMES[kind], "name: claim-review-jobs")
    return Resource(binding, kind, name) if name is not None else None
