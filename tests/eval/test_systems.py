"""Systems built from encoder names, as ``optical evaluate`` builds them."""

from __future__ import annotations

import pytest

from optical.eval.systems import build_systems, system_name


def test_system_names_are_folder_names_made_unique() -> None:
    assert system_name("models/e5", []) == "e5"
    assert system_name("other/e5", ["e5"]) == "e5-2"
    assert system_name("x/e5", ["e5", "e5-2"]) == "e5-3"


def test_bm25_systems_and_their_sources() -> None:
    systems = build_systems(["bm25", "bm25"], query_sources=["native", "en"], names=["lexical", "lexical-en"])
    assert [(s.name, s.query_source) for s in systems] == [("lexical", "native"), ("lexical-en", "en")]
    assert [s.name for s in build_systems(["bm25", "bm25"])] == ["bm25", "bm25-2"]


def test_bm25_on_one_side_only_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="system bm25: bm25 is both the query and the document side"):
        build_systems(["bm25"], [str(tmp_path)])
