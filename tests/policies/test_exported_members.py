"""The public surface of `policies`: everything exported exists, and nothing else is public."""

from __future__ import annotations

import policies


def test_every_exported_name_exists() -> None:
    assert all(hasattr(policies, name) for name in policies.__all__)


def test_exported_names_are_unique_and_sorted() -> None:
    assert policies.__all__ == sorted(
        set(policies.__all__), key=lambda name: (not name.isupper(), name[0].islower(), name)
    )


def test_every_public_name_is_exported() -> None:
    public = {name for name in vars(policies) if not name.startswith("_")}
    assert public == set(policies.__all__)
