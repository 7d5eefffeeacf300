"""Any ISO 639 code names a language: the published distributions' names, the ISO tables, the code."""

from __future__ import annotations

import pytest

from optical.data.languages import LANGUAGE_NAMES, language_code, language_name


@pytest.mark.parametrize(("code", "name"), [
    ("sw", "swahili"), ("de", "german"), ("no", "norwegian_(bokmal)"), ("simple", "simple_english"),
    ("so", "somali"), ("ha", "hausa"), ("yo", "yoruba"), ("om", "oromo"), ("qu", "quechua"), ("am", "amharic"),
    ("nb", "norwegian_bokmal"), ("haw", "hawaiian"), ("pt-br", "portuguese"), ("xx", "xx"), ("sr-latn", "serbian"),
])
def test_language_name(code: str, name: str) -> None:
    assert language_name(code) == name


@pytest.mark.parametrize("bad", ["", "sw tl", "../en", "en/", "s"])
def test_what_is_not_a_code_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a language code"):
        language_name(bad)


def test_language_code_inverts_language_name() -> None:
    for code in [*LANGUAGE_NAMES, "so", "ha", "yo", "am", "xx"]:
        assert language_code(language_name(code)) == code
