"""What changes when one policy replaces another, and who must be asked again.

A raised `min_notice_version` invalidates grants given under older notices: the service counts
the subjects to re-ask with the consent rows of that purpose whose `notice_version` is below
the new minimum.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import msgspec

from policies._codes import Jurisdiction
from policies._model import Policy, Purpose

__all__ = ["NoticeChange", "PolicyDiff", "PurposeChange", "ReconsentRequired", "diff_policies"]

K = TypeVar("K")
V = TypeVar("V")

_VERSION_FIELDS = frozenset({"notice_version", "min_notice_version"})


class NoticeChange(msgspec.Struct, kw_only=True, frozen=True):
    """A purpose whose notice version changed."""

    purpose_id: str
    old_version: int
    new_version: int


class ReconsentRequired(msgspec.Struct, kw_only=True, frozen=True):
    """A purpose whose grants under a notice below `min_notice_version` no longer count."""

    purpose_id: str
    old_min_notice_version: int
    min_notice_version: int


class PurposeChange(msgspec.Struct, kw_only=True, frozen=True):
    """A purpose kept under the same id whose other fields changed."""

    purpose_id: str
    fields: tuple[str, ...]
    """The names of the changed fields, in declaration order (`text` for any notice text)."""


class PolicyDiff(msgspec.Struct, kw_only=True, frozen=True):
    """The differences between an old and a new policy, each list sorted by id."""

    purposes_added: tuple[str, ...]
    purposes_removed: tuple[str, ...]
    notices_reversioned: tuple[NoticeChange, ...]
    reconsent_required: tuple[ReconsentRequired, ...]
    purposes_changed: tuple[PurposeChange, ...]
    jurisdictions_changed: tuple[Jurisdiction, ...]
    recipients_changed: tuple[str, ...]
    """Recipients added, removed or changed."""
    retention_changed: tuple[str, ...]
    """Data categories whose retention was added, removed or changed."""
    controller_changed: bool

    @property
    def empty(self) -> bool:
        """True when the two policies declare the same rules."""
        return self == _NO_DIFFERENCE


_NO_DIFFERENCE = PolicyDiff(
    purposes_added=(),
    purposes_removed=(),
    notices_reversioned=(),
    reconsent_required=(),
    purposes_changed=(),
    jurisdictions_changed=(),
    recipients_changed=(),
    retention_changed=(),
    controller_changed=False,
)


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    """Compare two policies, typically the active one and a file about to be applied."""
    kept = sorted(old.purposes.keys() & new.purposes.keys())
    pairs = [(old.purposes[purpose_id], new.purposes[purpose_id]) for purpose_id in kept]
    return PolicyDiff(
        purposes_added=tuple(sorted(new.purposes.keys() - old.purposes.keys())),
        purposes_removed=tuple(sorted(old.purposes.keys() - new.purposes.keys())),
        notices_reversioned=tuple(
            NoticeChange(purpose_id=was.id, old_version=was.notice_version, new_version=now.notice_version)
            for was, now in pairs
            if was.notice_version != now.notice_version
        ),
        reconsent_required=tuple(
            ReconsentRequired(
                purpose_id=was.id,
                old_min_notice_version=was.min_notice_version,
                min_notice_version=now.min_notice_version,
            )
            for was, now in pairs
            if now.min_notice_version > was.min_notice_version
        ),
        purposes_changed=tuple(
            PurposeChange(purpose_id=was.id, fields=fields)
            for was, now in pairs
            if (fields := _changed_fields(was, now))
        ),
        jurisdictions_changed=tuple(sorted(_changed_keys(old.jurisdictions, new.jurisdictions))),
        recipients_changed=tuple(sorted(_changed_keys(old.recipients, new.recipients))),
        retention_changed=tuple(sorted(_changed_keys(old.retention, new.retention))),
        controller_changed=old.controller != new.controller,
    )


def _changed_fields(old: Purpose, new: Purpose) -> tuple[str, ...]:
    return tuple(
        name
        for name in Purpose.__struct_fields__
        if name not in _VERSION_FIELDS and getattr(old, name) != getattr(new, name)
    )


def _changed_keys(old: Mapping[K, V], new: Mapping[K, V]) -> set[K]:
    return {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
