import pytest
from jsonschema import Draft202012Validator

from portico.manifest.request_schema import (
    DEFAULT_MAX_LENGTH,
    RequestSchemaError,
    check_schema,
    compile_shorthand,
)


def test_founding_example_compiles_to_required_non_empty_strings() -> None:
    assert compile_shorthand(["policyId required", "documentKey required"]) == {
        "type": "object",
        "properties": {
            "policyId": {"type": "string", "minLength": 1, "maxLength": DEFAULT_MAX_LENGTH},
            "documentKey": {"type": "string", "minLength": 1, "maxLength": DEFAULT_MAX_LENGTH},
        },
        "required": ["policyId", "documentKey"],
    }


@pytest.mark.parametrize(
    ("item", "expected_property", "required"),
    [
        ("note optional", {"type": "string", "maxLength": DEFAULT_MAX_LENGTH}, False),
        ("note optional string", {"type": "string", "maxLength": DEFAULT_MAX_LENGTH}, False),
        ("note optional string max 2000", {"type": "string", "maxLength": 2000}, False),
        ("key required string max 5", {"type": "string", "minLength": 1, "maxLength": 5}, True),
        ("key required max 64", {"type": "string", "minLength": 1, "maxLength": 64}, True),
        ("total required number", {"type": "number"}, True),
        ("count optional integer", {"type": "integer"}, False),
        ("urgent required boolean", {"type": "boolean"}, True),
        ("meta optional object", {"type": "object"}, False),
        ("tags required array", {"type": "array"}, True),
    ],
)
def test_each_type_compiles(item: str, expected_property: dict[str, object], required: bool):
    name = item.split()[0]
    schema = compile_shorthand([item])
    assert schema["properties"] == {name: expected_property}
    assert schema["required"] == ([name] if required else [])


def test_compiled_schema_rejects_empty_required_string_and_allows_extra_properties() -> None:
    validator = Draft202012Validator(compile_shorthand(["policyId required", "note optional"]))
    assert validator.is_valid({"policyId": "p-1", "note": "", "extra": 1})
    assert not validator.is_valid({"policyId": ""})
    assert not validator.is_valid({"note": "x"})
    assert not validator.is_valid({"policyId": "p" * (DEFAULT_MAX_LENGTH + 1)})


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ("policyId", ["'policyId'", "expected '<field> required|optional [<type>]"]),
        ("", ["expected '<field> required|optional"]),
        ("policyId required string now", ["too many words"]),
        ("note optional string max", ["'max' goes last, followed by a number"]),
        ("note optional max 20 string", ["'max' goes last"]),
        ("note optional string max 0", ["from 1 to 1048576", "got '0'"]),
        ("note optional string max ²", ["whole number", "got '²'"]),
        ("note optional string max 2000000", ["from 1 to 1048576"]),
        ("count optional integer max 5", ["'max' bounds a string's length", "type integer"]),
        ("policyId mandatory", ["expected 'required' or 'optional'", "got 'mandatory'"]),
        ("policyId requried", ["did you mean 'required'?"]),
        ("count required money", ["unknown type 'money'", "array, boolean, integer"]),
        ("count required int", ["unknown type 'int'", "did you mean 'integer'?"]),
        ("policy-id required", ["field name", "got 'policy-id'"]),
        ("1st required", ["not starting with a digit", "got '1st'"]),
    ],
)
def test_bad_item_is_reported_with_its_index(item: str, words: list[str]) -> None:
    with pytest.raises(RequestSchemaError) as caught:
        compile_shorthand(["documentKey required", item])
    [(location, message)] = caught.value.problems
    assert location == (1,)
    for word in words:
        assert word in message
    assert str(caught.value) == message


def test_duplicate_field_names_the_first_declaration() -> None:
    with pytest.raises(RequestSchemaError) as caught:
        compile_shorthand(["policyId required", "policyId optional integer"])
    message = (
        "'policyId optional integer': duplicate field (already declared by 'policyId required')"
    )
    assert caught.value.problems == [((1,), message)]


def test_every_bad_item_is_reported_and_the_error_is_a_value_error() -> None:
    with pytest.raises(ValueError) as caught:
        compile_shorthand(["a maybe", "b required", "c required text"])
    assert isinstance(caught.value, RequestSchemaError)
    assert [location for location, _ in caught.value.problems] == [(0,), (2,)]
    assert "'a maybe'" in str(caught.value)
    assert "'c required text'" in str(caught.value)


def test_valid_schema_passes() -> None:
    check_schema({"type": "object", "properties": {"amount": {"type": "number", "minimum": 0}}})


@pytest.mark.parametrize(
    ("schema", "location", "words"),
    [
        ({"type": "strng"}, ("type",), ["'strng' is not one of"]),
        ({"properties": {"a": {"minLength": -1}}}, ("properties", "a", "minLength"), ["minimum"]),
        ({"required": "policyId"}, ("required",), ["is not of type 'array'"]),
        ({"pattern": "("}, ("pattern",), ["regex"]),
    ],
)
def test_invalid_schema_names_where(schema: dict[str, object], location: tuple[str, ...], words):
    with pytest.raises(RequestSchemaError) as caught:
        check_schema(schema)
    [(where, message)] = caught.value.problems
    assert where == location
    assert message.startswith("not a valid JSON Schema: ")
    for word in words:
        assert word in message
    assert str(caught.value).startswith(f"at /{'/'.join(location)}: not a valid JSON Schema")


def test_every_schema_problem_is_reported_once() -> None:
    with pytest.raises(RequestSchemaError) as caught:
        check_schema({"items": 3, "properties": {"a": {"type": "strng"}}})
    locations = sorted(where for where, _ in caught.value.problems)
    assert locations == [("items",), ("properties", "a", "type")]
