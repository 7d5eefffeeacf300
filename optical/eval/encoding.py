"""Encode texts with an :class:`~optical.models.Encoder`, cached on disk by content.

An encoded text set is stored at ``$OPTICAL_CACHE/encoded/<key>.pt`` where ``key`` is the SHA-256
of everything the vectors depend on: the encoder's weights and configuration
(:func:`encoder_fingerprint`), the kind (``query`` or ``passage``: it decides the prefix) and the
ids and texts themselves.  Any change to the model or to the collection's text gives a new key,
so a stale file is never read; files are written atomically and loaded memory-mapped.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict

import torch

from optical.cache import atomic_write, cache_dir
from optical.models import Encoder

__all__ = ["encode_cached", "encoder_fingerprint", "encoding_key", "token_embeddings"]

log = logging.getLogger(__name__)
CACHE_FORMAT = 1


def encoder_fingerprint(encoder: Encoder) -> str:
    """SHA-256 of the encoder's config, its tokenizer's vocabulary and every parameter and buffer."""
    digest = hashlib.sha256()
    config = asdict(encoder.config)
    config.pop("model", None)  # where it was loaded from does not change the vectors
    digest.update(json.dumps(config, sort_keys=True).encode())
    vocabulary = sorted(encoder.tokenizer.get_vocab().items())
    digest.update(f"{type(encoder.tokenizer).__name__}:{json.dumps(vocabulary, ensure_ascii=False)}".encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()


def encoding_key(fingerprint: str, kind: str, ids: Sequence[str], texts: Sequence[str]) -> str:
    """SHA-256 naming the cache file of ``texts`` encoded as ``kind`` by the encoder ``fingerprint``."""
    digest = hashlib.sha256(f"optical-encoded:{CACHE_FORMAT}:{fingerprint}:{kind}:{len(ids)}".encode())
    for item_id, text in zip(ids, texts, strict=True):
        digest.update(item_id.encode("utf-8") + b"\x00" + text.encode("utf-8") + b"\x01")
    return digest.hexdigest()


def encode_cached(
    encoder: Encoder,
    ids: Sequence[str],
    texts: Sequence[str],
    *,
    kind: str,
    batch_size: int = 64,
    cache: bool = True,
    fingerprint: str | None = None,
) -> torch.Tensor:
    """Pooled vectors ``[N, d]`` of ``texts``, read from or written to the encoded-text cache.

    Parameters
    ----------
    encoder
        Any :class:`~optical.models.Encoder`.
    ids, texts
        Parallel sequences (ids are part of the key, so a reordering is a new entry).
    kind
        ``"query"`` or ``"passage"`` (selects the encoder's prefix).
    batch_size
        Texts per forward pass.
    cache
        Read and write ``$OPTICAL_CACHE/encoded``; ``False`` always encodes.
    fingerprint
        :func:`encoder_fingerprint` of ``encoder`` if already computed (it hashes all weights).
    """
    if len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
    progress = len(texts) >= 512  # a collection worth waiting for: say how long
    if not cache:
        return encoder.encode(list(texts), kind=kind, batch_size=batch_size, progress=progress)
    key = encoding_key(fingerprint or encoder_fingerprint(encoder), kind, ids, texts)
    path = cache_dir("encoded") / f"{key}.pt"
    if path.exists():
        stored = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
        log.info("encoded %s: %d texts (%s) from cache %s", encoder.config.model, len(ids), kind, path.name[:12])
        return stored["vectors"]
    log.info("encoding %d texts (%s) with %s", len(texts), kind, encoder.config.model)
    vectors = encoder.encode(list(texts), kind=kind, batch_size=batch_size, progress=progress)
    with atomic_write(path, "wb") as handle:
        torch.save({"vectors": vectors.contiguous(), "count": len(ids), "kind": kind}, handle)
    return vectors


def token_embeddings(
    encoder: Encoder, texts: Sequence[str], *, kind: str, batch_size: int = 32
) -> list[torch.Tensor]:
    """Per-text token embeddings ``[L_i, d]`` (only tokens of the transport mask), L2-normalised, on CPU.

    What :func:`~optical.eval.retrieval.maxsim_rerank` scores.
    """
    output: list[torch.Tensor] = []
    with encoder.evaluating(), torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = encoder.encode_tokens(list(texts[start:start + batch_size]), kind)
            states = torch.nn.functional.normalize(batch.embeddings.float(), dim=-1).cpu()
            mask = batch.token_mask.cpu()
            output.extend(states[i][mask[i]].clone() for i in range(states.shape[0]))
    return output
