"""Language codes and the lowercase English names that WikiCLIR and mMARCO put in file paths.

WikiCLIR names its directories ``wiki-clir/<name>/`` (``german``, ``swahili``, ...) and mMARCO
its files ``<name>_collection.tsv``; both use the names below.  Codes are ISO 639-1, except
WikiCLIR's ``simple`` (Simple English).
"""

from __future__ import annotations

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


def language_name(code: str) -> str:
    """The lowercase English name WikiCLIR and mMARCO use for ``code`` (``"sw"`` -> ``"swahili"``).

    Raises
    ------
    ValueError
        For a code not in :data:`LANGUAGE_NAMES`; the message lists the known codes.
    """
    try:
        return LANGUAGE_NAMES[code]
    except KeyError:
        known = ", ".join(sorted(LANGUAGE_NAMES))
        raise ValueError(f"unknown language code {code!r}; known codes: {known}") from None
