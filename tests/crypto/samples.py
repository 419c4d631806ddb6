"""Values shared by the crypto tests (fixtures live in conftest.py)."""

from __future__ import annotations

SUBJECT = "0190b6d2-5c7e-7a1b-9c3d-4e5f60718293"
OTHER_SUBJECT = "0190b6d2-5c7e-7a1b-9c3d-4e5f60718294"


def leaked_by(exc: BaseException, secret: str) -> bool:
    """Whether ``secret`` appears in the message of ``exc`` or of any exception chained to it."""
    seen: BaseException | None = exc
    while seen is not None:
        if secret in str(seen) or secret in repr(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
