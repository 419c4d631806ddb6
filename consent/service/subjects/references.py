"""How a request names its subject: exactly one identifier, or the subject's id.

Every caller (the check, the batch check, recording, the lookup) validates its
reference here, naming the kinds it accepts: a check may name anyone, recording
only the identifiers a banner or a backend knows, a lookup no subject id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal
from uuid import UUID

from consent.errors import InvalidInput
from consent.service.subjects.identifiers import Identifier, Subjects

__all__ = ["ANY_KIND", "IDENTIFIER_KINDS", "SubjectKind", "subject_named"]

SubjectKind = Literal["device_id", "user_id", "email", "phone", "subject_id"]
ANY_KIND: tuple[SubjectKind, ...] = ("device_id", "user_id", "email", "phone", "subject_id")
IDENTIFIER_KINDS: tuple[SubjectKind, ...] = ("device_id", "user_id", "email", "phone")


def subject_named(
    subjects: Subjects,
    ref: object,
    accepted: Sequence[SubjectKind] = ANY_KIND,
    *,
    field: str = "subject",
    prefix: str = "subject.",
) -> Identifier | UUID:
    """The identifier (normalised) or subject id `ref` names by its attributes of these kinds.

    InvalidInput naming `field` unless exactly one of the kinds is set and it is `accepted`;
    naming `prefix + kind` if that identifier is not valid.
    """
    named: SubjectKind | None = None
    for kind in ANY_KIND:
        if getattr(ref, kind, None) is not None:
            if named is not None:
                named = None
                break
            named = kind
    if named is None or named not in accepted:
        raise InvalidInput(f"name the subject by exactly one of {', '.join(accepted)}", field=field)
    value = getattr(ref, named)
    if named == "subject_id":
        assert isinstance(value, UUID)
        return value
    return subjects.identifier(named, value, field=prefix + named)
