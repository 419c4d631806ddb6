"""Turn the text of a policy file into a validated `Policy`, or refuse it with every problem.

Pure: the caller reads the file and passes its text and a `source` label for the messages.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import msgspec

from policies._checks import (
    check_controller,
    check_jurisdiction,
    check_jurisdictions_declared,
    check_personal_fields,
    check_purpose,
    check_recipient,
)
from policies._codes import Jurisdiction
from policies._decoding import Fields, ProblemList, decode_item, key_path
from policies._errors import PolicyInvalid, Problem
from policies._model import Controller, JurisdictionRules, Policy, Purpose, Recipient, RequestSettings, Retention
from policies._statutory import STATUTORY_DEADLINES

__all__ = ["parse_policy"]

S = TypeVar("S", bound=msgspec.Struct)

Check = Callable[[Fields, str], None]
"""Checks the rules of one decoded item (its fields and key path), recording problems."""
Screen = Callable[[dict[str, Any], str, ProblemList], dict[str, Any]]
"""Looks at an item's raw keys before decoding, reporting and dropping any it refuses."""

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_SECTIONS = ("controller", "purposes", "jurisdictions", "retention", "recipients", "requests")
_REQUIRED_SECTIONS = ("controller", "purposes", "jurisdictions", "retention")


def parse_policy(text: str, *, source: str) -> Policy:
    """Parse and validate a policy file.

    Raises `PolicyInvalid` listing every problem found, each with `source` and a key path.

    >>> policy = parse_policy(path.read_text(encoding="utf-8"), source=str(path))  # doctest: +SKIP
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyInvalid([Problem(source=source, path="", message=f"not valid TOML: {error}")]) from None
    problems = ProblemList(source)
    for key in document:
        if key not in _SECTIONS:
            problems.add(key_path("", key), f"unknown section; expected one of: {', '.join(_SECTIONS)}")
    for section in _REQUIRED_SECTIONS:
        if section not in document:
            problems.add(section, "missing required section")
    policy = _decode_policy(document, problems)
    if problems.problems or policy is None:
        raise PolicyInvalid(problems.problems)
    return policy


def _decode_policy(document: dict[str, Any], problems: ProblemList) -> Policy | None:
    controller = None
    if "controller" in document:
        controller, fields = decode_item(document["controller"], Controller, "controller", problems)
        check_controller(fields, problems)
    retention_ids = _table(document, "retention").keys()

    def check_one_purpose(fields: Fields, path: str) -> None:
        check_purpose(fields, path, retention_ids, problems)

    purposes, purpose_fields = _decode_items(document, Purpose, "purposes", problems, check_one_purpose)
    if "purposes" in document and not purpose_fields:
        problems.add("purposes", "declare at least one purpose")
    jurisdictions = _decode_jurisdictions(_table(document, "jurisdictions", problems), problems)
    retention, retention_fields = _decode_items(document, Retention, "retention", problems, named=False)
    check_personal_fields(retention_fields, problems)

    def check_one_recipient(fields: Fields, path: str) -> None:
        check_recipient(fields, path, purpose_fields, problems)

    recipients, _ = _decode_items(
        document, Recipient, "recipients", problems, check_one_recipient, screen=_refuse_secrets
    )
    requests = _decode_requests(document, recipients.keys(), problems)
    if controller is None or requests is None:
        return None
    return Policy(
        controller=controller,
        purposes=purposes,
        jurisdictions=jurisdictions,
        retention=retention,
        recipients=recipients,
        requests=requests,
    )


def _decode_requests(
    document: dict[str, Any], recipient_ids: Collection[str], problems: ProblemList
) -> RequestSettings | None:
    """The `[requests]` section (all defaults when absent); its verification recipient must be declared."""
    if "requests" not in document:
        return RequestSettings()
    settings, fields = decode_item(document["requests"], RequestSettings, "requests", problems)
    recipient = fields.get("verification_recipient", str)
    if recipient is not None and recipient not in recipient_ids:
        problems.add("requests.verification_recipient", f"{recipient!r} is not a declared recipient")
        return None
    return settings


def _table(document: dict[str, Any], section: str, problems: ProblemList | None = None) -> dict[str, Any]:
    """The section as a table; a section of another type is reported (if asked) and read as empty."""
    raw = document.get(section, {})
    if isinstance(raw, dict):
        return raw
    if problems is not None:
        problems.add(section, "expected a table")
    return {}


def _no_check(fields: Fields, path: str) -> None:
    """Items whose rules are all in their types."""


def _keep_all(raw: dict[str, Any], path: str, problems: ProblemList) -> dict[str, Any]:
    return raw


def _decode_items(
    document: dict[str, Any],
    cls: type[S],
    section: str,
    problems: ProblemList,
    check: Check = _no_check,
    *,
    named: bool = True,
    screen: Screen = _keep_all,
) -> tuple[dict[str, S], dict[str, Fields]]:
    """Decode and check each item of a section keyed by id.

    With `named`, the item's `id` field is its table name. Returns the valid items and the
    decoded fields of every item with a well-formed id.
    """
    items: dict[str, S] = {}
    decoded: dict[str, Fields] = {}
    for key, raw in _table(document, section, problems).items():
        path = key_path(section, key)
        if not _IDENTIFIER.match(key):
            problems.add(path, "ids must be lower_snake_case: a letter, then letters, digits or _ (at most 64)")
            continue
        value = raw
        if isinstance(raw, dict):
            value = screen(raw, path, problems)
            value = _named(value, "id", key, path, problems) if named else value
        item, decoded[key] = decode_item(value, cls, path, problems)
        check(decoded[key], path)
        if item is not None:
            items[key] = item
    return items, decoded


def _named(raw: dict[str, Any], field: str, name: str, path: str, problems: ProblemList) -> dict[str, Any]:
    """`raw` with `field` set to the table's name; writing it in the file is an error."""
    if field in raw:
        problems.add(key_path(path, field), f"the {field} is the table name; remove this key")
    return {**raw, field: name}


def _refuse_secrets(raw: dict[str, Any], path: str, problems: ProblemList) -> dict[str, Any]:
    """A secret written in the file would end up in version control and in the database."""
    kept: dict[str, Any] = {}
    for key, value in raw.items():
        if "secret" in key.lower() and key != "secret_env":
            problems.add(
                key_path(path, key),
                "secrets must not be written in the policy file; name an environment variable in secret_env",
            )
        else:
            kept[key] = value
    return kept


def _decode_jurisdictions(raw: dict[str, Any], problems: ProblemList) -> dict[Jurisdiction, JurisdictionRules]:
    codes = {code.value: code for code in Jurisdiction}
    rules: dict[Jurisdiction, JurisdictionRules] = {}
    for key, declared in raw.items():
        path = key_path("jurisdictions", key)
        code = codes.get(key)
        if code is None:
            problems.add(path, f"unknown jurisdiction; expected one of: {', '.join(codes)}")
            continue
        value = declared
        if isinstance(declared, dict):
            value = _named(_with_statutory_deadlines(code, declared), "code", key, path, problems)
        decoded, fields = decode_item(value, JurisdictionRules, path, problems)
        check_jurisdiction(code, fields, path, problems)
        if decoded is not None:
            rules[code] = decoded
    check_jurisdictions_declared(raw.keys(), problems)
    return rules


def _with_statutory_deadlines(code: Jurisdiction, raw: dict[str, Any]) -> dict[str, Any]:
    """Fill the deadlines the file leaves out with the law's, field by field."""
    statutory = _without_nulls(msgspec.to_builtins(STATUTORY_DEADLINES[code]))
    declared = raw.get("deadlines", {})
    if not isinstance(declared, dict):
        return raw
    merged = dict(statutory)
    for request_type, deadline in declared.items():
        base = statutory.get(request_type)
        merged[request_type] = (
            {**base, **deadline} if isinstance(base, dict) and isinstance(deadline, dict) else deadline
        )
    return {**raw, "deadlines": merged}


def _without_nulls(table: dict[str, Any]) -> dict[str, Any]:
    """`table` as a TOML file would spell it: TOML has no null, absent keys take the default."""
    return {
        key: _without_nulls(value) if isinstance(value, dict) else value
        for key, value in table.items()
        if value is not None
    }
