r"""optical's distillation objectives as sentence-transformers losses.

The losses plug into ``SentenceTransformerTrainer`` and ``model.fit`` as sentence-transformers'
own losses do (``forward(sentence_features, labels)``, ``get_config_dict``, ``citation``). Each
training example has two text columns, English first and the foreign language second, as in
sentence-transformers' multilingual-distillation data:

- a frozen **teacher** ``SentenceTransformer`` (no gradient, always in eval mode) encodes the
  English column into token embeddings (``token_embeddings``);
- the **student** ``SentenceTransformer`` being trained encodes the foreign column the same way;
- special tokens (the tokenizer's special-token ids, ``[CLS]``/``[SEP]``/``<s>``/``</s>``...) and
  padding (the attention mask) are masked out of the token sets, and both sides become
  :class:`optical.models.TokenBatch` es;
- the loss is computed by optical's own objective code (:class:`optical.distill.OTObjective`,
  :class:`optical.distill.WeightedObjectives`, ...), so it is the number ``optical distill``
  minimises on the same batch.

Classes: :class:`OpticalDistillationLoss` (any :class:`optical.distill.Objective`),
:class:`OpticalTransportLoss` (the OPTICAL transport loss alone) and :class:`OpticalCombinedLoss`
(the distiller's default objective, built by :func:`optical.distill.run.build_objective`).
sentence-transformers is an optional dependency: ``pip install 'optical[st]'``.

Reference: Z. Huang, P. Yu and J. Allan, "Improving Cross-lingual Information Retrieval on
Low-Resource Languages via Optimal Transport Distillation", WSDM 2023, arXiv 2301.12566.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from optical.distill import Objective, WeightedObjectives
from optical.models import Encoder, EncoderConfig, TokenBatch
from optical.models.card import CITATION

INSTALL_HINT = "pip install 'optical[st]' (or pip install 'sentence-transformers[train]')"


def require_sentence_transformers():
    """The ``sentence_transformers`` module, or an ImportError that says how to install it."""
    try:
        import sentence_transformers
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"optical.integrations.sentence_transformers needs sentence-transformers: "
                          f"{INSTALL_HINT}") from error
    return sentence_transformers


def default_objective() -> str:
    """The objective ``optical quickstart`` distils with by default (``cos+nce`` today)."""
    from optical.quickstart import QuickstartConfig

    return QuickstartConfig.objective


def to_sentence_transformer(encoder: Encoder, device: str | None = "cpu"):
    """A ``SentenceTransformer`` with ``encoder``'s weights, tokenizer, pooling and prefixes.

    The encoder is saved to a temporary folder (:meth:`optical.models.Encoder.save` writes the
    sentence-transformers files) and loaded back; the result shares no tensors with ``encoder``.
    An encoder with a projection head has no sentence-transformers equivalent and is refused.
    """
    sentence_transformers = require_sentence_transformers()
    if encoder.projection is not None:
        raise ValueError("an encoder with a projection head cannot be converted to a SentenceTransformer")
    with tempfile.TemporaryDirectory(prefix="optical-st-") as folder:
        encoder.save(f"{folder}/model")
        return sentence_transformers.SentenceTransformer(f"{folder}/model", device=device)


def special_token_ids(tokenizer) -> list[int]:
    """The ids that never enter a token set: every special token except the unknown token.

    An unknown token stands for text and stays, as in :meth:`optical.models.Encoder.tokenize`,
    whose mask marks only the tokens the tokenizer adds.
    """
    unknown = getattr(tokenizer, "unk_token_id", None)
    return sorted(i for i in set(tokenizer.all_special_ids) if i != unknown)


def token_batch(model, features: dict[str, Any], special_ids: Sequence[int]) -> TokenBatch:
    """Run ``model`` (a ``SentenceTransformer``) on tokenized ``features``; return its tokens as a TokenBatch.

    ``token_mask`` is the attention mask less the tokens whose id is in ``special_ids``.
    """
    output = model(dict(features))
    states = output["token_embeddings"]
    ids = output["input_ids"]
    attention = output["attention_mask"].bool()
    if states.shape[:2] != attention.shape:
        raise ValueError(f"token_embeddings {tuple(states.shape)} do not match the attention mask "
                         f"{tuple(attention.shape)} (unpadded or flattened inputs are not supported)")
    special = torch.as_tensor(list(special_ids), dtype=ids.dtype, device=ids.device)
    return TokenBatch(states, attention, attention & ~torch.isin(ids, special), ids)


def preprocess(model, texts: list[str]) -> dict[str, torch.Tensor]:
    """Tokenize ``texts`` for ``model`` (``preprocess`` in sentence-transformers 6, ``tokenize`` before)."""
    if hasattr(model, "preprocess"):
        return model.preprocess(texts)
    return model.tokenize(texts)  # pragma: no cover - sentence-transformers < 6


def encoder_view(model) -> Encoder:
    """An :class:`~optical.models.Encoder` over a ``SentenceTransformer``'s transformer and tokenizer.

    It shares the parameters (no copy) and carries the model's pooling and maximum length, which
    is what :func:`optical.distill.run.build_objective` reads from an encoder. As every
    :class:`~optical.models.Encoder`, it freezes the transformer's own pooler head, which
    sentence-transformers never uses either (no optimizer state for parameters without gradient).
    """
    transformer = model[0]
    hf_model = getattr(transformer, "auto_model", None) or getattr(transformer, "model", None)
    pooling = "mean"
    for module in model:
        if type(module).__name__ == "Pooling":
            mode = getattr(module, "pooling_mode", None)
            if mode is None:  # pragma: no cover - sentence-transformers < 6
                mode = module.get_pooling_mode_str()
            if mode not in ("mean", "cls"):
                raise ValueError(f"pooling {mode!r}: optical's objectives pool by mean or cls")
            pooling = mode
    config = EncoderConfig(model=str(getattr(hf_model.config, "_name_or_path", "")), pooling=pooling,
                           max_length=max(2, model.max_seq_length or 512))
    return Encoder(config, model=hf_model, tokenizer=model.tokenizer)


def same_vocabulary(first, second) -> bool:
    """Whether two tokenizers map text to the same ids (same class, vocabulary and special tokens)."""
    if first is second:
        return True
    return (type(first) is type(second) and first.all_special_ids == second.all_special_ids
            and first.get_vocab() == second.get_vocab())


def objective_from_spec(model, teacher, spec: str, *, pairs: Sequence[tuple[str, str]] | None = None,
                        **options) -> Objective:
    """The objective ``optical distill --objective spec`` trains with, for two ``SentenceTransformer`` s.

    Built by :func:`optical.distill.run.build_objective`; ``options`` are
    :class:`optical.distill.run.DistillConfig` fields (``eps``, ``ot_weight``, ``temperature``,
    ``centered``, ...); ``pairs`` (English, foreign) are needed by ``marginals="idf"``.
    """
    from optical.data.records import BitextPair
    from optical.distill.run import DistillConfig, build_objective

    config = DistillConfig(objective=spec, **options)
    if config.idf and not pairs:
        raise ValueError("marginals='idf' needs the training pairs: pass pairs=[(english, foreign), ...]")
    bitext = [BitextPair(src, tgt, config.src_lang, config.tgt_lang) for src, tgt in pairs or ()]
    return build_objective(config, encoder_view(teacher), encoder_view(model), bitext)


def objective_options(objective: Objective) -> dict[str, Any]:
    """The scalar options of an objective (and of each weighted part, with its weight)."""
    if isinstance(objective, WeightedObjectives):
        return {name: {**objective_options(part), "weight": objective.weights[name]}
                for name, part in objective.parts.items()}
    options = {key: value for key, value in vars(objective).items()
               if not key.startswith("_") and key != "training" and isinstance(value, (bool, int, float, str))}
    options.update({key: value is not None for key, value in vars(objective).items()
                    if key.endswith("_idf")})
    return {"class": type(objective).__name__, **options}


class OpticalDistillationLoss(nn.Module):
    r"""Any optical distillation objective as a sentence-transformers loss.

    For a batch of :math:`B` pairs (English :math:`e_k`, foreign :math:`f_k`), the teacher
    :math:`T` (frozen) and the student :math:`S` give token sets :math:`T(e_k)` and :math:`S(f_k)`
    (special and padding tokens removed), and the loss is the objective's
    :math:`\mathcal L\big(\{T(e_k)\}_k, \{S(f_k)\}_k\big)`; for the OPTICAL transport loss
    :math:`\frac1B \sum_k \langle P_k, C_k\rangle_F` with :math:`C_k` the cosine cost between the
    two token sets and :math:`P_k` its entropic transport plan (:class:`optical.distill.OTObjective`).
    Only the student receives gradients.

    Parameters
    ----------
    model : SentenceTransformer
        The student, trained; encodes the second text column.
    teacher : SentenceTransformer
        The frozen teacher; encodes the first (English) column. It is set to eval mode and
        ``requires_grad_(False)`` here, and kept in eval mode at every call. It must be a separate
        object from ``model`` (load the same folder twice to start the student from the teacher).
    objective : optical.distill.Objective
        ``forward(teacher: TokenBatch, student: TokenBatch) -> ObjectiveOutput``; its ``logs`` of
        the last batch are kept in :attr:`last_logs`.

    Notes
    -----
    Token widths of teacher and student must match (no projection head). When the two tokenizers
    share a vocabulary the teacher reads the English column's features as they are; otherwise the
    English ids are decoded with the student's tokenizer and re-tokenized with the teacher's (a
    tokenizer that lower-cases or strips accents passes that on to the teacher).

    Reference: Z. Huang, P. Yu and J. Allan, "Improving Cross-lingual Information Retrieval on
    Low-Resource Languages via Optimal Transport Distillation", WSDM 2023, arXiv 2301.12566.

    Examples
    --------
    >>> from optical.distill import OTObjective
    >>> from optical.models.tiny import tiny_encoder
    >>> words = ["the", "house", "nyumba"]
    >>> teacher = to_sentence_transformer(tiny_encoder(words, seed=0))
    >>> student = to_sentence_transformer(tiny_encoder(words, seed=1))
    >>> loss = OpticalDistillationLoss(student, teacher, OTObjective(eps=0.05))
    >>> english, swahili = preprocess(student, ["the house"]), preprocess(student, ["nyumba"])
    >>> value = loss([english, swahili], None)
    >>> value.backward()
    >>> loss.last_logs["ot"] == float(value)
    True
    """

    def __init__(self, model, teacher, objective: Objective) -> None:
        super().__init__()
        require_sentence_transformers()
        if teacher is model:
            raise ValueError("teacher and model are the same object: load the teacher separately "
                             "(freezing it would freeze the student)")
        self.model = model
        self.teacher = teacher
        self.objective = objective
        teacher.requires_grad_(False)
        teacher.eval()
        self.last_logs: dict[str, float] = {}
        self._shared_vocabulary = same_vocabulary(model.tokenizer, teacher.tokenizer)
        self._student_special = special_token_ids(model.tokenizer)
        self._teacher_special = special_token_ids(teacher.tokenizer)

    @classmethod
    def from_spec(cls, model, teacher, spec: str, *, pairs: Sequence[tuple[str, str]] | None = None,
                  **options) -> OpticalDistillationLoss:
        """The loss with the objective ``optical distill --objective spec`` builds (see :func:`objective_from_spec`)."""
        return cls(model, teacher, objective_from_spec(model, teacher, spec, pairs=pairs, **options))

    def set_progress(self, progress: float) -> None:
        """Tell a scheduled objective (e.g. ``ot_schedule="warmup"``) how far training has come, in [0, 1]."""
        if hasattr(self.objective, "set_progress"):
            self.objective.set_progress(min(1.0, max(0.0, float(progress))))

    def teacher_features(self, english: dict[str, Any]) -> dict[str, Any]:
        """The English column's features as the teacher reads them, on the teacher's device."""
        if not self._shared_vocabulary:
            texts = self.model.tokenizer.batch_decode(english["input_ids"], skip_special_tokens=True)
            english = preprocess(self.teacher, texts)
        device = self.teacher.device
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in english.items()}

    def forward(self, sentence_features: Iterable[dict[str, torch.Tensor]], labels: torch.Tensor | None = None
                ) -> torch.Tensor:
        features = list(sentence_features)
        if len(features) != 2:
            raise ValueError(f"{type(self).__name__} takes two text columns, English (teacher) then the "
                             f"foreign language (student); got {len(features)}")
        english, foreign = features
        if self.teacher.device != self.model.device:
            self.teacher.to(self.model.device)
        self.teacher.eval()
        with torch.no_grad():
            teacher_tokens = token_batch(self.teacher, self.teacher_features(english), self._teacher_special)
        student_tokens = token_batch(self.model, foreign, self._student_special)
        if teacher_tokens.embeddings.shape[-1] != student_tokens.embeddings.shape[-1]:
            raise ValueError(f"teacher tokens have width {teacher_tokens.embeddings.shape[-1]}, student tokens "
                             f"{student_tokens.embeddings.shape[-1]}: optical's objectives need equal widths")
        output = self.objective(teacher_tokens, student_tokens)
        self.last_logs = dict(output.logs)
        return output.loss

    def get_config_dict(self) -> dict[str, Any]:
        return {"objective": objective_options(self.objective)}

    @property
    def citation(self) -> str:
        return CITATION


def progress_callback(loss: OpticalDistillationLoss):
    """A ``transformers.TrainerCallback`` that sets ``loss``'s training progress before every step.

    Needed only by objectives with a weight schedule (``ot_schedule="warmup"`` or ``"decay"``):
    as ``optical distill`` does, the progress of optimizer step :math:`s` of :math:`S` is
    :math:`s / S`. Pass it as ``SentenceTransformerTrainer(..., callbacks=[progress_callback(loss)])``.
    """
    from transformers import TrainerCallback

    class OpticalProgress(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            loss.set_progress(state.global_step / state.max_steps if state.max_steps else 0.0)

    return OpticalProgress()


class OpticalTransportLoss(OpticalDistillationLoss):
    r"""The OPTICAL transport loss :math:`\frac1B \sum_k \langle P_k, C_k\rangle_F` as a sentence-transformers loss.

    :class:`OpticalDistillationLoss` with the :class:`optical.distill.OTObjective` that
    ``optical distill --objective ot`` builds from the same options.

    Parameters
    ----------
    model, teacher : SentenceTransformer
        Student (foreign column, trained) and frozen teacher (English column).
    eps : float
        Entropic regularisation of the transport plan.
    **options
        Further ``optical distill`` options of the transport loss: ``ot_max_iter``, ``ot_tol``,
        ``tau``, ``ot_grad``, ``centered``, ``whiten``, ``marginals`` (``"idf"`` with ``pairs=``).

    Examples
    --------
    >>> from sentence_transformers import SentenceTransformer                       # doctest: +SKIP
    >>> teacher = SentenceTransformer("intfloat/multilingual-e5-small")            # doctest: +SKIP
    >>> student = SentenceTransformer("intfloat/multilingual-e5-small")            # doctest: +SKIP
    >>> loss = OpticalTransportLoss(student, teacher, eps=0.05)                    # doctest: +SKIP
    """

    def __init__(self, model, teacher, eps: float = 0.05, *, pairs: Sequence[tuple[str, str]] | None = None,
                 **options) -> None:
        super().__init__(model, teacher, objective_from_spec(model, teacher, "ot", pairs=pairs, eps=eps, **options))


class OpticalCombinedLoss(OpticalDistillationLoss):
    r"""The distiller's default objective (``optical quickstart``'s ``--objective``, today ``cos+nce``).

    Any sum of objectives, e.g. ``"ot+nce"``:
    :math:`\mathcal L = w_{ot}\,\frac1B \sum_k \langle P_k, C_k\rangle_F + w_{nce}\,\mathrm{InfoNCE}`,
    built by :func:`optical.distill.run.build_objective` from ``objective`` (default:
    :func:`default_objective`, so the class follows the distiller's default) and ``options``
    (:class:`optical.distill.run.DistillConfig` fields: ``ot_weight``, ``nce_weight``,
    ``temperature``, ``eps``, ...).

    Examples
    --------
    >>> loss = OpticalCombinedLoss(student, teacher)                               # doctest: +SKIP
    >>> loss = OpticalCombinedLoss(student, teacher, "ot+mse", mse_weight=0.5)     # doctest: +SKIP
    """

    def __init__(self, model, teacher, objective: str | None = None, *,
                 pairs: Sequence[tuple[str, str]] | None = None, **options) -> None:
        spec = objective or default_objective()
        super().__init__(model, teacher, objective_from_spec(model, teacher, spec, pairs=pairs, **options))
        self.spec = spec

    def get_config_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, **super().get_config_dict()}
