"""Errors raised by the policy library.

PolicyError
└── PolicyInvalid   a policy file was refused; carries every problem found
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

__all__ = ["PolicyError", "PolicyInvalid", "Problem"]


class Problem(msgspec.Struct, kw_only=True, frozen=True):
    """One thing wrong with a policy file, located precisely enough for an operator to fix it."""

    source: str
    """The file name (or other label) the caller passed to `parse_policy`."""
    path: str
    """The key path, such as `purposes.analytics.consent_lifetime_days`; empty for the whole file."""
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.path}" if self.path else self.source
        return f"{where}: {self.message}"


class PolicyError(Exception):
    """Base class of every error raised by `policies`."""


class PolicyInvalid(PolicyError):
    """A policy file was refused.

    `problems` lists all of them, not just the first, so an operator fixes a file in one pass.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"invalid policy, {count} problem{'s' if count != 1 else ''}:\n{lines}")
