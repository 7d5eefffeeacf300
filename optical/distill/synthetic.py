"""A synthetic bitext whose token alignment is known: the "foreign" word is the English word reversed.

With one token per word (``tiny_encoder(VOCABULARY)``), word k of a pair sits at the same
position on both sides, so a distilled student's transport plans can be checked against the
truth. Used by the tests and handy to smoke-test a training set-up without any data.
"""

from __future__ import annotations

import random

from optical.data.records import BitextPair

ENGLISH = ("house", "river", "bread", "light", "stone", "water", "green", "night", "child", "field",
           "horse", "bird", "cloud", "fire", "king", "road")


def foreign(word: str) -> str:
    return word[::-1]


VOCABULARY = ENGLISH + tuple(foreign(w) for w in ENGLISH)


def synthetic_pairs(count: int, seed: int = 0, tgt_lang: str = "xx") -> list[BitextPair]:
    """``count`` pairs of 3 to 6 distinct words, English (src) and reversed (tgt), in the same order."""
    rng = random.Random(seed)
    pairs = []
    for k in range(count):
        words = rng.sample(ENGLISH, rng.randint(3, 6))
        pairs.append(BitextPair(" ".join(words), " ".join(foreign(w) for w in words), "en", tgt_lang, str(k)))
    return pairs
