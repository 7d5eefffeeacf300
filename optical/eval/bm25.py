r"""Okapi BM25, the lexical baseline: a small exact implementation over a sparse term matrix.

Scoring is Lucene's BM25 (Lucene >= 8, as in Anserini and ``bm25s`` with ``method="lucene"``):

.. math::
    s(q, d) = \sum_{t \in q} \mathrm{idf}(t)\,
              \frac{\mathrm{tf}(t, d)}{\mathrm{tf}(t, d) + k_1 \left(1 - b + b\,\frac{|d|}{\mathrm{avgdl}}\right)},
    \qquad
    \mathrm{idf}(t) = \ln\!\left(1 + \frac{N - \mathrm{df}(t) + 0.5}{\mathrm{df}(t) + 0.5}\right)

with :math:`N` documents, :math:`|d|` the token count of :math:`d` and a query term repeated
:math:`n` times counted :math:`n` times.  Defaults are Anserini's :math:`k_1 = 0.9, b = 0.4`
(Robertson's :math:`k_1 = 1.2, b = 0.75` is a flag away).  Lucene's classic numerator factor
:math:`k_1 + 1` is left out, as Lucene 8 does: it scales every score alike and changes no ranking.

Tokens, per script (:func:`tokenize`): the text is lowercased and full-width forms folded to
their usual width (Lucene's ``CJKWidthFilter``); then

- Chinese, Japanese and Korean (Han, Hiragana, Katakana, Hangul) have no spaces between words:
  each maximal run of such characters becomes its overlapping character bigrams (a run of one
  character stays a unigram), as Lucene's ``CJKAnalyzer`` (``CJKBigramFilter``) does;
- every other script splits into maximal runs of letters, digits, combining marks and ``_``, so
  punctuation splits words while vowel signs and viramas stay inside them (Bengali ``ঈশ্বর``,
  Hindi ``हिन्दी`` are one token each).

Unlike Lucene's UAX #29 word breaking, an apostrophe always splits (``cat's`` -> ``cat``, ``s``),
and Thai, Lao, Khmer and Myanmar text (no spaces, dictionary segmentation in Lucene) is split at
spaces and punctuation only.  Stemming is off by default; pass any ``str -> str`` function (e.g.
a Snowball stemmer) as ``stemmer``.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import regex
from scipy import sparse

from optical.data.trec import Run

__all__ = ["BM25Index", "tokenize"]

# Letters and marks used by Han, Hiragana, Katakana or Hangul (script extensions: the prolonged
# sound mark ー and the iteration mark 々 belong too; the ideographic full stop is punctuation).
_CJK = r"[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}]&&[\p{L}\p{M}]"
# A run of CJK characters, or a run of word characters of any other script (combining marks included).
_TOKEN = regex.compile(rf"(?P<cjk>[{_CJK}]+)|[[\p{{L}}\p{{N}}\p{{M}}_]--[{_CJK}]]+", regex.V1)
# Full-width ASCII and half-width katakana (U+FF00-U+FFEF), folded as Lucene's CJKWidthFilter does.
_WIDTH = regex.compile(r"[\uff00-\uffef]+")


def tokenize(text: str, stemmer: Callable[[str], str] | None = None) -> list[str]:
    """Lowercase ``text`` and split it per script (see the module docstring), stemming each token if asked.

    Examples
    --------
    >>> tokenize("Habari, DUNIA: 北京大学 ঈশ্বর")
    ['habari', 'dunia', '北京', '京大', '大学', 'ঈশ্বর']
    """
    text = _WIDTH.sub(lambda match: unicodedata.normalize("NFKC", match[0]), text).lower()
    tokens: list[str] = []
    for match in _TOKEN.finditer(text):
        run = match[0]
        if match["cjk"] is not None and len(run) > 1:
            tokens.extend(run[i:i + 2] for i in range(len(run) - 1))
        else:
            tokens.append(run)
    return [stemmer(t) for t in tokens] if stemmer is not None else tokens


class BM25Index:
    """An in-memory BM25 index of a document set.

    Parameters
    ----------
    doc_ids, texts
        The documents (same length, unique ids).
    k1, b
        BM25 parameters (Anserini's defaults).
    stemmer
        Optional ``str -> str`` applied to every token of documents and queries.

    Examples
    --------
    >>> index = BM25Index(["d1", "d2"], ["the cat sat", "a dog ran"])
    >>> index.search({"q": "cat"}, k=1)["q"][0][0]
    'd1'
    """

    def __init__(
        self,
        doc_ids: Sequence[str],
        texts: Sequence[str],
        *,
        k1: float = 0.9,
        b: float = 0.4,
        stemmer: Callable[[str], str] | None = None,
    ) -> None:
        if len(doc_ids) != len(texts):
            raise ValueError(f"{len(doc_ids)} ids for {len(texts)} texts")
        if len(set(doc_ids)) != len(doc_ids):
            raise ValueError("document ids must be unique")
        if not doc_ids:
            raise ValueError("cannot index an empty document set")
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.doc_ids = list(doc_ids)
        self.k1, self.b, self.stemmer = k1, b, stemmer
        self.vocabulary: dict[str, int] = {}
        rows, cols, counts = [], [], []
        lengths = np.zeros(len(texts), dtype=np.float64)
        for column, text in enumerate(texts):
            tokens = tokenize(text, stemmer)
            lengths[column] = len(tokens)
            for token, count in Counter(tokens).items():
                rows.append(self.vocabulary.setdefault(token, len(self.vocabulary)))
                cols.append(column)
                counts.append(count)
        tf = np.array(counts, dtype=np.float64)
        cols_array = np.array(cols, dtype=np.int64)
        rows_array = np.array(rows, dtype=np.int64)
        num_docs = len(texts)
        average = lengths.mean() if lengths.mean() > 0 else 1.0
        df = np.bincount(rows_array, minlength=len(self.vocabulary)).astype(np.float64)
        self.idf = np.log1p((num_docs - df + 0.5) / (df + 0.5))
        norm = k1 * (1.0 - b + b * lengths[cols_array] / average)
        weights = self.idf[rows_array] * tf / (tf + norm)
        # [vocabulary, documents]: a query's scores are the sum of its terms' rows.
        self.weights = sparse.csr_matrix(
            (weights, (rows_array, cols_array)), shape=(len(self.vocabulary), num_docs)
        )

    def __len__(self) -> int:
        return len(self.doc_ids)

    def scores(self, query: str) -> np.ndarray:
        """BM25 scores ``[D]`` of every document for one query (0 where no term matches)."""
        counts = Counter(self.vocabulary[t] for t in tokenize(query, self.stemmer) if t in self.vocabulary)
        if not counts:
            return np.zeros(len(self.doc_ids), dtype=np.float64)
        terms = np.fromiter(counts.keys(), dtype=np.int64)
        multiplicity = np.fromiter(counts.values(), dtype=np.float64)
        return np.asarray(self.weights[terms].T @ multiplicity).ravel()

    def search(self, queries: dict[str, str], k: int = 1000) -> Run:
        """Top ``k`` documents per query with a positive score, ties by docid descending (``trec_eval`` order)."""
        run: Run = {}
        for qid, text in queries.items():
            scores = self.scores(text)
            matched = np.flatnonzero(scores > 0)
            ranking = sorted(((self.doc_ids[i], float(scores[i])) for i in matched), key=lambda p: p[0], reverse=True)
            ranking.sort(key=lambda p: p[1], reverse=True)
            run[qid] = ranking[:k]
        return run
