"""Tiny BERT encoders built from a config, for tests and demonstrations: nothing is downloaded."""

from __future__ import annotations

import string

import torch

from .encoder import Encoder, EncoderConfig

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_encoder(
    words: list[str] | tuple[str, ...] = (),
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    seed: int = 0,
    dropout: float = 0.1,
    **config,
) -> Encoder:
    """A randomly initialised BERT with a WordPiece vocabulary of ``words`` plus single characters.

    Extra keyword arguments go to :class:`EncoderConfig` (``pooling``, ``max_length``, ...).
    """
    from transformers import BertConfig, BertModel, BertTokenizer

    characters = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocabulary = SPECIAL + sorted(set(w.lower() for w in words) | set(characters))
    vocabulary += ["##" + c for c in string.ascii_lowercase + string.digits]
    tokenizer = BertTokenizer(vocab={token: index for index, token in enumerate(vocabulary)}, do_lower_case=True)
    torch.manual_seed(seed)
    bert_config = BertConfig(vocab_size=len(vocabulary), hidden_size=hidden, num_hidden_layers=layers,
                             num_attention_heads=heads, intermediate_size=hidden * 2, max_position_embeddings=128,
                             hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    model = BertModel(bert_config, add_pooling_layer=False)
    config.setdefault("max_length", 64)
    return Encoder(EncoderConfig(model="tiny-bert", **config), model=model, tokenizer=tokenizer)
