"""Decode parsed TOML into Structs field by field, collecting every problem.

msgspec stops at the first error in a value. An operator fixing a policy file wants the whole
list, so this walks Structs and tables itself and hands msgspec only the leaves, where one
error per leaf is all there is to say.
"""

from __future__ import annotations

import re
import types
import typing
from enum import Enum
from typing import Any, Final, TypeVar

import msgspec

from policies._errors import Problem

__all__ = ["Fields", "ProblemList", "decode_item", "key_path"]

S = TypeVar("S", bound=msgspec.Struct)
T = TypeVar("T")

_SEQUENCES = (tuple, list, frozenset)

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class _Invalid(Enum):
    """Marks a value that could not be decoded; its problems are already recorded."""

    INVALID = "invalid"


_INVALID: Final = _Invalid.INVALID


class ProblemList:
    """The problems found in one source, in the order they were found."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        """Record that the value at `path` is wrong."""
        self.problems.append(Problem(source=self.source, path=path, message=message))


def key_path(path: str, key: object) -> str:
    """The TOML key path of `key` inside `path`, quoting keys that are not bare keys."""
    text = str(key)
    part = text if _BARE_KEY.match(text) else '"' + text.replace('"', '\\"') + '"'
    return f"{path}.{part}" if path else part


class Fields:
    """The fields of one item that decoded, even if others did not.

    Checks that relate two fields (`min_notice_version` against `notice_version`) read these,
    so they still run on an item with an unrelated broken field.
    """

    def __init__(self, values: dict[str, object]) -> None:
        self._values = values

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def get(self, name: str, kind: type[T]) -> T | None:
        """The decoded value of `name` if it decoded to a `kind`, else None."""
        value = self._values.get(name)
        return value if isinstance(value, kind) else None


def decode_item(raw: object, cls: type[S], path: str, problems: ProblemList) -> tuple[S | None, Fields]:
    """Decode `raw` into `cls`, recording every problem under `path`.

    Returns the item (None if anything was wrong) and the fields that did decode.
    """
    values: dict[str, object] = {}
    item = _decode_fields(raw, cls, path, problems, values)
    return (None if item is _INVALID else typing.cast(S, item)), Fields(values)


def _decode(raw: object, annotation: Any, path: str, problems: ProblemList) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return _decode_fields(raw, annotation, path, problems, {})
    base = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation
    if typing.get_origin(base) in _SEQUENCES and isinstance(raw, list):
        return _decode_sequence(raw, typing.get_args(base)[0], annotation, path, problems)
    origin = typing.get_origin(annotation)
    if origin is dict:
        key_type, value_type = typing.get_args(annotation)
        return _decode_table(raw, key_type, value_type, path, problems)
    if origin in (typing.Union, types.UnionType):
        # TOML has no null: an optional key is either absent or holds a value of the other arm.
        arms = [arm for arm in typing.get_args(annotation) if arm is not type(None)]
        if len(arms) == 1:
            return _decode(raw, arms[0], path, problems)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _decode_enum(raw, annotation, path, problems)
    return _decode_leaf(raw, annotation, path, problems)


def _decode_fields(
    raw: object, cls: type[msgspec.Struct], path: str, problems: ProblemList, values: dict[str, object]
) -> Any:
    if not isinstance(raw, dict):
        problems.add(path, f"expected a table, got {_toml_type(raw)}")
        return _INVALID
    fields = msgspec.structs.fields(cls)
    known = {field.encode_name for field in fields}
    valid = True
    for key in raw:
        if key not in known:
            problems.add(key_path(path, key), f"unknown key; expected one of: {', '.join(sorted(known))}")
            valid = False
    for field in fields:
        if field.encode_name not in raw:
            if field.required:
                problems.add(key_path(path, field.encode_name), "missing required key")
                valid = False
            continue
        value = _decode(raw[field.encode_name], field.type, key_path(path, field.encode_name), problems)
        if value is _INVALID:
            valid = False
        else:
            values[field.name] = value
    return cls(**values) if valid else _INVALID


def _decode_sequence(raw: list[object], item_type: Any, annotation: Any, path: str, problems: ProblemList) -> Any:
    """Decode each element on its own, so that every bad element is reported."""
    items = [_decode(item, item_type, f"{path}[{index}]", problems) for index, item in enumerate(raw)]
    if any(item is _INVALID for item in items):
        return _INVALID
    # The elements are valid; what is left to check is the container's own constraints (length).
    return _decode_leaf(raw, annotation, path, problems)


def _decode_table(raw: object, key_type: Any, value_type: Any, path: str, problems: ProblemList) -> Any:
    if not isinstance(raw, dict):
        problems.add(path, f"expected a table, got {_toml_type(raw)}")
        return _INVALID
    decoded: dict[object, object] = {}
    valid = True
    for raw_key, raw_value in raw.items():
        where = key_path(path, raw_key)
        key = _decode(raw_key, key_type, where, problems)
        value = _decode(raw_value, value_type, where, problems)
        if key is _INVALID or value is _INVALID:
            valid = False
        else:
            decoded[key] = value
    return decoded if valid else _INVALID


def _decode_enum(raw: object, enum: type[Enum], path: str, problems: ProblemList) -> Any:
    allowed = [member.value for member in enum]
    if raw in allowed:
        return enum(raw)
    problems.add(path, f"{raw!r} is not one of: {', '.join(map(str, allowed))}")
    return _INVALID


def _decode_leaf(raw: object, annotation: Any, path: str, problems: ProblemList) -> Any:
    try:
        return msgspec.convert(raw, annotation, strict=True)
    except msgspec.ValidationError as error:
        message, located, sub = str(error).partition(" - at `$")
        sub = sub.rstrip("`") if located else ""
        where = path + sub if path or not sub.startswith(".") else sub[1:]
        problems.add(where, message.replace("`object`", "`table`"))
        return _INVALID


def _toml_type(raw: object) -> str:
    names = {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}
    return names.get(type(raw), f"a {type(raw).__name__}")
