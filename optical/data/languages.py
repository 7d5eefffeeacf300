"""Language codes and the lowercase English names that WikiCLIR and mMARCO put in file paths.

WikiCLIR names its directories ``wiki-clir/<name>/`` (``german``, ``swahili``, ...) and mMARCO
its files ``<name>_collection.tsv``.  Any ISO 639 code works: the languages of the published
distributions keep the names those use (:data:`LANGUAGE_NAMES`, including WikiCLIR's ``simple``
for Simple English); any other code takes its ISO 639 English name from the ``pycountry`` tables
(``so`` -> ``somali``, ``yo`` -> ``yoruba``, ``quc`` -> ``k'iche'``), and a code those tables do
not know names itself (``xx`` -> ``xx``).
"""

from __future__ import annotations

import functools
import re
import unicodedata

# The names the real WikiCLIR and mMARCO distributions use; they win over the ISO tables.
LANGUAGE_NAMES: dict[str, str] = {
    "ar": "arabic",
    "bn": "bengali",
    "ca": "catalan",
    "cs": "czech",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "fa": "persian",
    "fi": "finnish",
    "fr": "french",
    "hi": "hindi",
    "id": "indonesian",
    "it": "italian",
    "ja": "japanese",
    "ko": "korean",
    "nl": "dutch",
    "nn": "norwegian_(nynorsk)",
    "no": "norwegian_(bokmal)",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "simple": "simple_english",
    "sv": "swedish",
    "sw": "swahili",
    "th": "thai",
    "tl": "tagalog",
    "tr": "turkish",
    "uk": "ukrainian",
    "vi": "vietnamese",
    "zh": "chinese",
}

# ISO 639-1/-2/-3 codes, and BCP 47-style tags built on them (``pt-br``, ``sr-latn``, ``x-klingon``).
_CODE = re.compile(r"[a-z]{2,8}(-[a-z0-9]{1,8})*", re.IGNORECASE)


def _check_code(code: str) -> str:
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise ValueError(f"not a language code: {code!r} (expected an ISO 639 code such as sw, so or quc)")
    return code


@functools.cache
def _iso_name(code: str) -> str | None:
    """The ISO 639 English name of ``code`` as a path-friendly word, or ``None``."""
    try:
        import pycountry
    except ImportError:  # an install without the table: codes name themselves
        return None
    base = code.split("-")[0].lower()
    key = "alpha_2" if len(base) == 2 else "alpha_3" if len(base) == 3 else None
    entry = pycountry.languages.get(**{key: base}) if key else None
    if entry is None:
        return None
    name = re.sub(r"\s*\([^)]*\)", "", entry.name).split(",")[0].strip()  # "Swahili (macrolanguage)"
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()  # "Bokmål" -> "Bokmal"
    return name.lower().replace(" ", "_") or None


def language_name(code: str) -> str:
    """The lowercase English name WikiCLIR and mMARCO use for ``code`` (``"sw"`` -> ``"swahili"``).

    Codes outside the published distributions get their ISO 639 name (``"so"`` -> ``"somali"``)
    or, when no table knows them, the code itself (``"xx"`` -> ``"xx"``).

    Raises
    ------
    ValueError
        For a string that is not a language code (empty, or with spaces or path separators).

    Examples
    --------
    >>> language_name("sw"), language_name("ha"), language_name("xx")
    ('swahili', 'hausa', 'xx')
    """
    if code in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[code]
    _check_code(code)
    return _iso_name(code) or code


@functools.cache
def language_code(name: str) -> str:
    """The code whose :func:`language_name` is ``name``: the inverse, for names read from file paths.

    ``"swahili"`` -> ``"sw"``, ``"somali"`` -> ``"so"``; a name no table knows is taken to be a
    code itself (``"xx"`` -> ``"xx"``).

    Examples
    --------
    >>> language_code("german"), language_code("yoruba"), language_code("xx")
    ('de', 'yo', 'xx')
    """
    for code, known in LANGUAGE_NAMES.items():
        if known == name:
            return code
    try:
        import pycountry
    except ImportError:
        return name
    for entry in pycountry.languages:
        code = getattr(entry, "alpha_2", None) or entry.alpha_3
        if _iso_name(code) == name:
            return code
    return name
