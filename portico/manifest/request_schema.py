"""Request body schemas: the `request_validation` shorthand and full JSON Schemas.

Shorthand items such as ``"policyId required"`` compile to JSON Schema 2020-12, so whatever
form a manifest uses, the gateway validates request bodies with one code path. A shorthand
string is bounded: ``max N`` characters, or DEFAULT_MAX_LENGTH when the item does not say
(an unbounded string is a resource a client can make a handler store and serve back).

jsonschema (slower to import than all the rest of `portico.manifest`) is imported only to check a
full schema: a manifest with none, or with the shorthand, loads without it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

SHORTHAND_TYPES = ("array", "boolean", "integer", "number", "object", "string")
DEFAULT_MAX_LENGTH = 1024  # characters of a shorthand string without `max N`
LONGEST_MAX_LENGTH = 1_048_576
_PRESENCE = ("required", "optional")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FORM = (
    "'<field> required|optional [<type>] [max <characters>]' such as 'policyId required', "
    "'total optional number' or 'note optional string max 2000'"
)

Location = tuple[str | int, ...]


class RequestSchemaError(ValueError):
    """Every problem found, each with its location in the input: (item index,) or a schema path."""

    def __init__(self, message: str, problems: list[tuple[Location, str]]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class _Field:
    name: str
    required: bool
    type: str
    max_length: int | None  # strings only


def compile_shorthand(items: list[str]) -> dict[str, Any]:
    """Compile shorthand items to a JSON Schema for an object body; extra properties are allowed."""
    fields: list[_Field] = []
    declared_by: dict[str, str] = {}
    problems: list[tuple[Location, str]] = []
    for index, item in enumerate(items):
        try:
            field = _parse_item(item)
        except ValueError as exc:
            problems.append(((index,), f"{item!r}: {exc}"))
            continue
        if field.name in declared_by:
            first = declared_by[field.name]
            problems.append(
                ((index,), f"{item!r}: duplicate field (already declared by {first!r})")
            )
            continue
        declared_by[field.name] = item
        fields.append(field)
    if problems:
        raise RequestSchemaError("; ".join(message for _, message in problems), problems)
    return {
        "type": "object",
        "properties": {field.name: _property_schema(field) for field in fields},
        "required": [field.name for field in fields if field.required],
    }


def check_schema(schema: dict[str, Any]) -> None:
    """Raise RequestSchemaError (a ValueError) unless `schema` is a valid JSON Schema 2020-12."""
    from jsonschema import Draft202012Validator

    meta_validator = Draft202012Validator(
        Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    problems: list[tuple[Location, str]] = []
    for error in meta_validator.iter_errors(schema):
        error = _most_specific(error)
        problem = (tuple(error.absolute_path), f"not a valid JSON Schema: {error.message}")
        # Several vocabularies of the meta-schema check the same keyword: report it once.
        if problem not in problems:
            problems.append(problem)
    if problems:
        message = "; ".join(f"at {_pointer(where)}: {what}" for where, what in problems)
        raise RequestSchemaError(message, problems)


def _parse_item(item: str) -> _Field:
    words = item.split()
    if len(words) < 2:
        raise ValueError(f"expected {_FORM}")
    max_length = _max_length(words[-2:]) if "max" in words[2:] else None
    if max_length is not None:
        words = words[:-2]
    if len(words) > 3:
        raise ValueError(f"too many words; expected {_FORM}")
    name, presence, *rest = words
    type_ = rest[0] if rest else "string"
    if not _FIELD_NAME.fullmatch(name):
        raise ValueError(
            f"expected a field name of letters, digits and '_' not starting with a digit, "
            f"got {name!r}"
        )
    if presence not in _PRESENCE:
        raise ValueError(
            f"expected 'required' or 'optional' after the field name, got {presence!r}"
            f"{_did_you_mean(presence, _PRESENCE)}"
        )
    if type_ not in SHORTHAND_TYPES:
        raise ValueError(
            f"unknown type {type_!r} (expected one of: {', '.join(SHORTHAND_TYPES)})"
            f"{_did_you_mean(type_, SHORTHAND_TYPES)}"
        )
    if max_length is not None and type_ != "string":
        raise ValueError(f"'max' bounds a string's length; {name!r} is of type {type_}")
    return _Field(name, presence == "required", type_, max_length)


def _max_length(words: list[str]) -> int:
    """The N of a trailing 'max N'."""
    if len(words) != 2 or words[0] != "max":
        raise ValueError(f"'max' goes last, followed by a number of characters; expected {_FORM}")
    number = words[1]
    if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= LONGEST_MAX_LENGTH:
        raise ValueError(
            f"expected a whole number of characters from 1 to {LONGEST_MAX_LENGTH} after "
            f"'max', got {number!r}"
        )
    return int(number)


def _property_schema(field: _Field) -> dict[str, Any]:
    if field.type != "string":
        return {"type": field.type}
    schema: dict[str, Any] = {"type": "string"}
    if field.required:
        # An empty string is not a value: a required string must have at least one character.
        schema["minLength"] = 1
    schema["maxLength"] = field.max_length or DEFAULT_MAX_LENGTH
    return schema


def _most_specific(error: ValidationError) -> ValidationError:
    if not error.context:
        return error
    # "is not valid under any of the given schemas" (anyOf) says less than its best sub-error.
    from jsonschema.exceptions import best_match

    best: ValidationError = best_match(error.context)
    return best


def _pointer(location: Location) -> str:
    return "/" + "/".join(str(part) for part in location)


def _did_you_mean(word: str, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
