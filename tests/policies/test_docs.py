"""The operator documentation shows the example the service ships, verbatim."""

from __future__ import annotations

from pathlib import Path

from tests.policies.samples import shop_text

DOCS = Path(__file__).resolve().parents[2] / "docs" / "policies.md"


def test_the_documented_example_is_the_shipped_one() -> None:
    documented = DOCS.read_text(encoding="utf-8").rsplit("```toml\n", 1)[1].split("```", 1)[0]
    assert documented == shop_text()
