"""Bilingual word lists and word-by-word query translation (the dictionary CLIR baseline).

A dictionary file has one line per headword, ``headword<TAB>translation1<TAB>translation2...``,
headwords lowercase and unique, translations in the dictionary's order (most common sense
first).  ``python -m data_recipes.freedict`` builds one from FreeDict (Swahili-English:
``$OPTICAL_CACHE/dictionaries/swh-eng.tsv``).

Examples
--------
>>> d = {"nuru": ["light"], "giza": ["darkness", "dark"], "agano jipya": ["New Testament"]}
>>> translate("Nayo nuru yang'aa gizani", d)
"nayo light yang'aa darkness"
>>> translate("Agano Jipya", d)
'New Testament'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from optical.data._lines import PathLike, iter_lines
from optical.data.errors import BadLines, OnError, check_on_error

__all__ = ["MIN_AFFIX_MATCH", "lookup", "read_dictionary", "tokenize_words", "translate"]

MIN_AFFIX_MATCH = 4
"""The shortest headword :func:`lookup` accepts as a prefix or suffix of an unknown word."""

# Word characters (as optical.eval.bm25.tokenize's \w+), joined across an apostrophe inside a word:
# Swahili writes the velar nasal ng' (ng'ombe "cow", yang'aa "shines").
_WORD = re.compile(r"\w+(?:'\w+)*")


def tokenize_words(text: str) -> list[str]:
    """Lowercase ``text`` and split it into words.

    The same ``\\w+`` runs as :func:`optical.eval.bm25.tokenize`, except that an apostrophe between
    word characters stays inside the word (``ng'ombe``); curly apostrophes count as ``'``.

    Examples
    --------
    >>> tokenize_words("Ng'ombe, wa Musa!")
    ["ng'ombe", 'wa', 'musa']
    """
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def read_dictionary(path: PathLike, *, on_error: OnError = "raise") -> dict[str, list[str]]:
    """Read a ``headword<TAB>translation1<TAB>translation2...`` file into ``{headword: translations}``.

    Parameters
    ----------
    path
        The file (``.gz`` is decompressed).
    on_error
        ``"raise"``: a malformed line raises :class:`~optical.data.errors.DataFormatError` naming
        the file and line; ``"skip"``: such lines are dropped and one
        :class:`~optical.data.errors.DataFormatWarning` gives their count.

    Returns
    -------
    dict[str, list[str]]
        In file order.

    Notes
    -----
    Blank lines are ignored.  Malformed: no translation, an empty headword or translation, a
    headword that is not lowercase (it could never match a lowercased query word), leading or
    trailing spaces, a repeated headword, bad UTF-8.
    """
    check_on_error(on_error)
    path = Path(path)
    bad = BadLines(path, on_error)
    dictionary: dict[str, list[str]] = {}
    try:
        for number, line in iter_lines(path, bad):
            if not line.strip():
                continue
            headword, *translations = line.split("\t")
            problem = _problem(headword, translations, dictionary)
            if problem:
                bad.report(number, problem)
                continue
            dictionary[headword] = translations
    finally:
        bad.warn_if_skipped()
    return dictionary


def _problem(headword: str, translations: list[str], known: Mapping[str, list[str]]) -> str:
    if not translations:
        return "expected a headword and at least one tab-separated translation, found 1 column"
    if not headword.strip():
        return "empty headword"
    if headword != headword.lower():
        return f"headword {headword!r} is not lowercase"
    for field in (headword, *translations):
        if not field.strip():
            return f"empty translation of {headword!r}"
        if field != field.strip():
            return f"{field!r} has leading or trailing spaces"
    if headword in known:
        return f"headword {headword!r} appears twice"
    return ""


def lookup(word: str, dictionary: Mapping[str, list[str]]) -> list[str]:
    """The translations of ``word``: exact match, else the longest headword of >= 4 letters it starts or ends with.

    Swahili marks subject, tense, negation and object with prefixes (``a-li-ku-ja``,
    ``ha-wa-ku-m-pokea`` -> ``pokea`` "receive") and locatives and verb extensions with
    suffixes (``giza-ni`` -> ``giza`` "darkness"), so an unknown word is matched to the longest
    headword that is its suffix or its prefix, at least :data:`MIN_AFFIX_MATCH` characters long
    (shorter stems match almost anything).  On a tie the suffix (the verb stem) wins.  Only
    one-word headwords take part.  Returns ``[]`` when nothing matches.
    """
    if word in dictionary:
        return list(dictionary[word])
    for length in range(len(word) - 1, MIN_AFFIX_MATCH - 1, -1):
        for candidate in (word[-length:], word[:length]):
            if candidate in dictionary:
                return list(dictionary[candidate])
    return []


def translate(
    text: str,
    dictionary: Mapping[str, list[str]],
    *,
    max_senses: int = 1,
    keep_unknown: bool = True,
) -> str:
    """Translate ``text`` word by word with ``dictionary`` (``{headword: translations}``).

    Parameters
    ----------
    text
        The query; it is lowercased and split by :func:`tokenize_words`.
    dictionary
        From :func:`read_dictionary`.
    max_senses
        How many translations of each word to output (the first ones: the dictionary's order).
    keep_unknown
        Output a word with no translation as it is (names such as ``musa`` then stay); else drop it.

    Returns
    -------
    str
        The translations joined by spaces.

    Notes
    -----
    At each position the longest multi-word headword that matches the next words exactly is
    used first (``agano jipya`` -> "New Testament"); otherwise the single word goes to
    :func:`lookup` (exact match, then longest headword prefix or suffix of >= 4 letters).
    """
    if max_senses < 1:
        raise ValueError(f"max_senses must be at least 1, got {max_senses}")
    words = tokenize_words(text)
    longest = max((h.count(" ") + 1 for h in dictionary), default=1)
    output: list[str] = []
    position = 0
    while position < len(words):
        translations: list[str] = []
        for span in range(min(longest, len(words) - position), 1, -1):
            phrase = " ".join(words[position : position + span])
            if phrase in dictionary:
                translations, position = list(dictionary[phrase]), position + span
                break
        else:
            translations = lookup(words[position], dictionary)
            if not translations and keep_unknown:
                translations = [words[position]]
            position += 1
        output += translations[:max_senses]
    return " ".join(output)
