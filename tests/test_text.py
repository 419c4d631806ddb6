import pytest

from consent.text import has_control_characters


@pytest.mark.parametrize(
    "character",
    ["\x00", "\n", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u200e", "\u200f", "\u061c", "\u202a", "\u202e",
     "\u2066", "\u2069"],
    ids=["NUL", "LF", "ESC", "DEL", "NEL", "CSI", "LS", "LRM", "RLM", "ALM", "LRE", "RLO", "LRI", "PDI"],
)  # fmt: skip
def test_control_c1_and_bidi_characters_are_found(character: str) -> None:
    assert has_control_characters(f"shop{character}example")


@pytest.mark.parametrize("text", ["shop", "Hanako Yamada", "日本の店", "مرحبا", "café\u00a0au lait", ""])
def test_ordinary_text_in_any_script_passes(text: str) -> None:
    assert not has_control_characters(text)
