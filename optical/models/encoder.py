"""Text encoders over any transformers ``AutoModel``: token embeddings, pooling, save and load.

An :class:`Encoder` turns texts into a :class:`TokenBatch` (token embeddings, the attention
mask, and the transport mask that excludes special tokens) and pools it into one vector per
text. Folders it saves load back here, in transformers (``AutoModel``) and in
sentence-transformers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from optical.cache import atomic_directory
from optical.config import InputError

log = logging.getLogger(__name__)

CONFIG_NAME = "optical_encoder.json"
PROJECTION_NAME = "optical_projection.pt"
POOLINGS = ("mean", "cls")


def downloads_allowed() -> bool:
    """Whether a model name that is no local folder may be fetched from a hub.

    Only on request: ``OPTICAL_ALLOW_DOWNLOAD=1`` (what ``--allow-download`` sets) or
    ``HF_HUB_OFFLINE=0``. Otherwise a typo in a folder name fails at once instead of spending
    half a minute on network retries.
    """
    return os.environ.get("OPTICAL_ALLOW_DOWNLOAD", "") not in ("", "0") or os.environ.get("HF_HUB_OFFLINE") == "0"


def check_model_source(name: str) -> bool:
    """Return whether ``name`` is a local folder; raise :class:`~optical.config.InputError` if it is
    not and downloads are not allowed (:func:`downloads_allowed`)."""
    if not name:
        raise ValueError("no model given (an empty name)")
    if Path(name).expanduser().is_dir():
        return True
    if downloads_allowed():
        return False
    raise InputError("no model folder (a hub name is downloaded only with --allow-download or HF_HUB_OFFLINE=0)",
                     name)


@dataclass
class EncoderConfig:
    """How an encoder reads text and what it returns; saved beside the weights."""

    model: str = field(default="", metadata={"help": "hub name or local folder of a transformers model"})
    pooling: str = field(default="mean", metadata={"help": "mean or cls"})
    normalize: bool = field(default=True, metadata={"help": "L2-normalise pooled vectors"})
    max_length: int = field(default=128, metadata={"help": "tokens per text; longer texts are truncated"})
    query_prefix: str = field(default="", metadata={"help": "prepended to queries, e.g. 'query: '"})
    passage_prefix: str = field(default="", metadata={"help": "prepended to passages, e.g. 'passage: '"})
    layer: int = field(default=-1, metadata={"help": "hidden layer whose token states are used (-1: last)"})
    exclude_special: bool = field(default=True, metadata={"help": "keep special tokens out of the transport mask"})
    projection_dim: int | None = field(default=None, metadata={"help": "add a linear head to this width"})

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.max_length < 2:
            raise ValueError(f"max_length must be >= 2, got {self.max_length}")

    @classmethod
    def from_dict(cls, values: dict) -> EncoderConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class TokenBatch:
    """Encoded texts: token states [B, L, d], the attention mask and the transport mask [B, L].

    ``token_mask`` is what optimal transport and late interaction use: the attention mask less
    the special tokens when the encoder excludes them. ``input_ids`` serve token weights (IDF);
    ``truncated`` counts texts cut at ``max_length``. ``layer_states`` [B, L, d'] are the states
    of one more hidden layer, ``layer``, when the encoder was asked for them
    (:meth:`Encoder.expose_layer`): an objective may compare tokens at another depth than the
    one it pools (:meth:`at_layer`).
    """

    embeddings: torch.Tensor
    attention_mask: torch.Tensor
    token_mask: torch.Tensor
    input_ids: torch.Tensor | None = None
    truncated: int = 0
    layer_states: torch.Tensor | None = None
    layer: int | None = None

    def select(self, rows: list[int]) -> TokenBatch:
        """The batch of texts ``rows`` only (gradients flow through the selection)."""
        index = torch.tensor(rows, dtype=torch.long, device=self.embeddings.device)
        ids = None if self.input_ids is None else self.input_ids[index]
        extra = None if self.layer_states is None else self.layer_states[index]
        return TokenBatch(self.embeddings[index], self.attention_mask[index], self.token_mask[index], ids,
                          layer_states=extra, layer=self.layer)

    def at_layer(self, layer: int | None) -> TokenBatch:
        """This batch with the states of hidden layer ``layer`` as its embeddings (None: itself).

        Raises ``ValueError`` when the batch does not hold that layer: the encoder that made it
        must expose it first (:meth:`Encoder.expose_layer`).
        """
        if layer is None:
            return self
        if self.layer_states is None or self.layer != layer:
            held = "no extra layer" if self.layer_states is None else f"layer {self.layer}"
            raise ValueError(f"the token batch holds {held}, not layer {layer}: call "
                             f"encoder.expose_layer({layer}) on the encoders that produce it")
        return TokenBatch(self.layer_states, self.attention_mask, self.token_mask, self.input_ids, self.truncated)

    def pooled(self, pooling: str, normalize: bool) -> torch.Tensor:
        if pooling == "cls":
            vectors = self.embeddings[:, 0]
        else:
            weights = self.attention_mask.unsqueeze(2).to(self.embeddings.dtype)
            vectors = (self.embeddings * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return F.normalize(vectors, dim=-1) if normalize else vectors


class Encoder(nn.Module):
    """A transformers model with its tokenizer, an optional projection and pooling.

    Parameters
    ----------
    config : EncoderConfig
        ``config.model`` is a hub name or a local folder (``AutoModel.from_pretrained``), or a
        folder saved by :meth:`save`, whose ``optical_encoder.json`` then fills the rest.
    model, tokenizer : optional
        Pre-built objects (tests build tiny models from a config); ``config.model`` is then
        only recorded.

    Examples
    --------
    >>> encoder = Encoder.load("path/to/multilingual-e5-small")      # doctest: +SKIP
    >>> vectors = encoder.encode(["Habari ya asubuhi"], kind="query")  # doctest: +SKIP
    """

    def __init__(self, config: EncoderConfig, model: nn.Module | None = None, tokenizer=None) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.config = config
        if model is None or tokenizer is None:
            local = check_model_source(config.model)
            self.model = model if model is not None else AutoModel.from_pretrained(
                config.model, local_files_only=local)
            self.tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(
                config.model, local_files_only=local)
        else:
            self.model, self.tokenizer = model, tokenizer
        pooler = getattr(self.model, "pooler", None)
        if isinstance(pooler, nn.Module):
            # The model's own pooler head is never used (pooling is ours): freeze it so optimizers
            # and DistributedDataParallel see no parameter that never gets a gradient.
            pooler.requires_grad_(False)
        hidden = self.model.config.hidden_size
        self.projection = nn.Linear(hidden, config.projection_dim) if config.projection_dim else None
        self.truncated_total = 0
        self.extra_layer: int | None = None  # see expose_layer

    def expose_layer(self, layer: int | None) -> None:
        """Also return the token states of hidden layer ``layer`` (``TokenBatch.layer_states``).

        ``layer`` indexes the model's hidden states as transformers returns them: 0 is the
        embedding output, ``n`` (or -1) the last of ``n`` layers. None stops it. The extra states
        are not projected, so a projection head's width does not apply to them.
        """
        if layer is not None:
            count = int(getattr(self.model.config, "num_hidden_layers", 0))
            if not -(count + 1) <= layer <= count:
                raise ValueError(f"layer {layer} out of range: the model has {count} layers (0..{count}, or -1)")
        self.extra_layer = layer

    @contextlib.contextmanager
    def evaluating(self):
        """Eval mode (no dropout) for the block, then the mode as it was.

        Switches only when a module is training: ``nn.Module.train`` sets every submodule,
        which costs milliseconds on a 12-layer model, and a one-query :meth:`encode` would pay
        it twice per call.
        """
        was_training = self.training
        switch = any(module.training for module in self.modules())
        if switch:
            self.eval()
        try:
            yield self
        finally:
            if switch:
                self.train(was_training)

    @property
    def dim(self) -> int:
        return self.config.projection_dim or self.model.config.hidden_size

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @classmethod
    def load(cls, path: str | os.PathLike, **overrides) -> Encoder:
        """Load a folder saved by :meth:`save`, or any transformers model folder.

        A name that is no local folder is an error unless downloads are allowed
        (:func:`downloads_allowed`); then it is fetched from the hub.
        """
        check_model_source(str(path))
        folder = Path(path)
        values: dict = {"model": str(path)}
        if (folder / CONFIG_NAME).exists():
            values.update(json.loads((folder / CONFIG_NAME).read_text()))
            values["model"] = str(path)
        values.update(overrides)
        encoder = cls(EncoderConfig.from_dict(values))
        head = folder / PROJECTION_NAME
        if encoder.projection is not None and head.exists():
            encoder.projection.load_state_dict(torch.load(head, map_location="cpu", weights_only=True))
        return encoder

    def save(self, path: str | os.PathLike) -> Path:
        """Write weights, tokenizer, the optical config and sentence-transformers files, atomically.

        The folder loads back with :meth:`load`, with ``AutoModel``/``AutoTokenizer`` (then pool
        and prefix as :meth:`encode` does) and with ``SentenceTransformer(path)``, which
        reproduces :meth:`encode` (projection head and prompts included). Entries get the usual
        permissions (0755/0644 under umask 022).
        """
        with atomic_directory(path) as staging:
            self.model.save_pretrained(staging)
            self.tokenizer.save_pretrained(staging)
            (staging / CONFIG_NAME).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
            if self.projection is not None:
                torch.save(self.projection.state_dict(), staging / PROJECTION_NAME)
            write_sentence_transformers_files(staging, self.config, self.model.config.hidden_size, self.projection)
        return Path(path)

    def tokenize(self, texts: list[str], kind: str = "query") -> tuple[dict[str, torch.Tensor], int]:
        """Tokenize with the prefix of ``kind`` ("query" or "passage"); return the batch and how many were cut."""
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        prefix = self.config.query_prefix if kind == "query" else self.config.passage_prefix
        texts = [prefix + t for t in texts]
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.config.max_length,
                               return_tensors="pt", return_special_tokens_mask=self.config.exclude_special)
        if batch.encodings is not None:
            # A fast tokenizer keeps what truncation cut off: one pass counts it.
            truncated = sum(bool(encoding.overflowing) for encoding in batch.encodings)
        else:
            full = self.tokenizer(texts, truncation=False, add_special_tokens=True)["input_ids"]
            truncated = sum(len(ids) > self.config.max_length for ids in full)
        return batch, truncated

    def forward(self, batch: dict[str, torch.Tensor], truncated: int = 0) -> TokenBatch:
        special = batch.pop("special_tokens_mask", None)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        hidden_layer, extra_layer = self.config.layer, self.extra_layer
        outputs = self.model(**batch, output_hidden_states=hidden_layer != -1 or extra_layer is not None)
        states = outputs.last_hidden_state if hidden_layer == -1 else outputs.hidden_states[hidden_layer]
        if self.projection is not None:
            states = self.projection(states)
        attention = batch["attention_mask"].bool()
        token_mask = attention if special is None else attention & ~special.to(self.device).bool()
        extra = None if extra_layer is None else outputs.hidden_states[extra_layer]
        return TokenBatch(states, attention, token_mask, batch["input_ids"], truncated, layer_states=extra,
                          layer=extra_layer)

    def encode_tokens(self, texts: list[str], kind: str = "query") -> TokenBatch:
        """Token embeddings [B, L, d] with masks (gradients flow when the module trains)."""
        batch, truncated = self.tokenize(texts, kind)
        if truncated:
            self.truncated_total += truncated
            log.debug("%d of %d texts truncated to %d tokens", truncated, len(texts), self.config.max_length)
        return self(batch, truncated)

    def encode(
        self, texts: list[str], kind: str = "query", batch_size: int = 64, *, bf16: bool = False,
        progress: bool = False,
    ) -> torch.Tensor:
        """Pooled vectors [N, d] without gradients, in batches, in the order of ``texts``.

        Batches hold texts of similar length (sorted by character count), so little of each
        batch is padding; the result is put back in the input order. Each batch is tokenized
        once: a fast tokenizer reports truncation itself (``Encoding.overflowing``), where
        :meth:`encode_tokens` tokenizes twice to count it.

        Parameters
        ----------
        texts
            The texts (without prefix).
        kind
            ``"query"`` or ``"passage"``: the prefix.
        batch_size
            Texts per forward pass.
        bf16
            Run the model under bfloat16 autocast (pooled vectors are float32 either way). Faster
            on CPUs with native bfloat16 (``avx512_bf16``, AMX) and on GPUs; rankings move within
            noise (``benchmarks/results/pipeline.md``).
        progress
            Show a progress bar on standard error (texts done, rate, time left).
        """
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        prefix = self.config.query_prefix if kind == "query" else self.config.passage_prefix
        vectors = []
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        from tqdm.auto import tqdm

        bar = tqdm(total=len(texts), disable=not progress, unit="text", desc=f"encoding ({kind})", mininterval=5,
                   leave=False)
        try:
            with self.evaluating(), torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16,
                                                                           enabled=bf16):
                for start in range(0, len(texts), batch_size):
                    bar.update(min(batch_size, len(texts) - start))
                    chunk = [prefix + texts[i] for i in order[start:start + batch_size]]
                    batch = self.tokenizer(chunk, padding=True, truncation=True, max_length=self.config.max_length,
                                           return_tensors="pt")
                    if batch.encodings is not None:
                        self.truncated_total += sum(bool(e.overflowing) for e in batch.encodings)
                    tokens = self(dict(batch))
                    vectors.append(tokens.pooled(self.config.pooling, self.config.normalize).float().cpu())
        finally:
            bar.close()
        if not vectors:
            return torch.empty(0, self.dim)
        stacked = torch.cat(vectors)
        if len(vectors) == 1 and order == list(range(len(texts))):
            return stacked
        result = torch.empty_like(stacked)
        result[torch.tensor(order, dtype=torch.long)] = stacked
        return result


def _write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_sentence_transformers_files(
    folder: str | os.PathLike, config: EncoderConfig, hidden_size: int, projection: nn.Linear | None = None
) -> None:
    """The sentence-transformers modules that compute what :meth:`Encoder.encode` computes.

    ``modules.json`` lists the transformer (the folder itself), ``Pooling`` (mean or cls), a
    ``Dense`` module with identity activation holding ``projection`` when there is one (pooling
    and a linear map commute, so projecting the pooled vector equals pooling projected tokens),
    and ``Normalize`` when ``config.normalize``. The prefixes are saved as prompts under
    ``query``, ``document`` (what ``encode_query``/``encode_document`` use) and ``passage``.
    """
    folder = Path(folder)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    _write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": hidden_size,
        "pooling_mode_cls_token": config.pooling == "cls",
        "pooling_mode_mean_tokens": config.pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
    if projection is not None:
        from safetensors.torch import save_file

        index = len(modules)
        modules.append({"idx": index, "name": str(index), "path": f"{index}_Dense",
                        "type": "sentence_transformers.models.Dense"})
        _write_json(folder / f"{index}_Dense" / "config.json", {
            "in_features": projection.in_features, "out_features": projection.out_features,
            "bias": projection.bias is not None, "activation_function": "torch.nn.modules.linear.Identity",
        })
        state = {f"linear.{k}": v.detach().cpu().contiguous() for k, v in projection.state_dict().items()}
        save_file(state, str(folder / f"{index}_Dense" / "model.safetensors"))
    if config.normalize:
        index = len(modules)
        modules.append({"idx": index, "name": str(index), "path": f"{index}_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
        (folder / f"{index}_Normalize").mkdir(exist_ok=True)
    _write_json(folder / "modules.json", modules)
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": config.max_length, "do_lower_case": False})
    prompts = {"query": config.query_prefix, "document": config.passage_prefix, "passage": config.passage_prefix}
    _write_json(folder / "config_sentence_transformers.json",
                {"prompts": prompts, "default_prompt_name": None, "similarity_fn_name": "cosine"})
