"""What the fault suite counts, and the personal values it used, so that it can look for them afterwards.

Every personal value the suite sends is made by `personal()`: it carries `MARKER` and enough random
characters to be unique, so a scan for it cannot be fooled by a coincidence, and a scan for the
marker alone also finds a value that was cut or re-encoded on its way out.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["FIGURES", "MARKER", "Figures", "leaks", "personal"]

MARKER = "qzv7leak"


def personal(kind: str) -> str:
    """A fresh personal value of `kind` (device_id, user_id, email, phone, name, note), remembered for the scans."""
    token = secrets.token_hex(16)  # 128 random bits
    match kind:
        case "email":
            value = f"{MARKER}.{token}@shop.example"
        case "phone":
            # A real, valid Japanese mobile number would repeat across runs; the marker goes in the name instead.
            # After 090 the next digit is 1-9: 0901... to 0909... are Japan's mobile numbers (090-0 is not).
            value = f"+8190{10**7 + secrets.randbelow(9 * 10**7)}"
        case _:
            value = f"{MARKER}{kind}{token}"
    FIGURES.personal_values.add(value)
    return value


@dataclass
class Figures:
    """Totals over one pytest run, printed at its end (the figures docs/reliability.md reports)."""

    requests: int = 0
    faults: int = 0
    acknowledged: int = 0
    lost: int = 0
    server_errors: int = 0
    leaks: int = 0
    personal_values: set[str] = field(default_factory=set)

    def lines(self) -> list[str]:
        return [
            f"requests sent         {self.requests}",
            f"faults injected       {self.faults}",
            f"acknowledged writes   {self.acknowledged}",
            f"lost writes           {self.lost}",
            f"5xx answers           {self.server_errors}",
            f"personal values used  {len(self.personal_values)}",
            f"leaks                 {self.leaks}",
        ]


FIGURES = Figures()


def leaks(values: Iterable[str], places: Mapping[str, str]) -> list[str]:
    """`value in place` for every personal value (or the marker) found in the text of a place."""
    found = []
    for where, text in places.items():
        if MARKER in text:
            found.append(f"{MARKER!r} in {where}")
        found += [f"{value!r} in {where}" for value in values if value in text]
    FIGURES.leaks += len(found)
    return found
