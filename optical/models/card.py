r"""Model cards: the ``README.md`` a saved student carries, as sentence-transformers and the hub expect.

A card is rendered from a :class:`ModelCardInfo` (what the run was: base model, teacher,
languages, objective and options, bitext size, steps, its dev evaluations, the command and the
library version), which is stored beside it as ``optical_card.json``. ``optical evaluate`` adds
test results to a folder's card afterwards (:func:`update_model_card_evaluation`,
:func:`update_model_cards`), and the card is rendered again from the stored information.

The card opens with YAML front matter (``library_name``, ``base_model``, ``language``, ``tags``,
``pipeline_tag: sentence-similarity``), then says what the model is, how to load it, how it was
trained and how it scored. For OPTICAL students the objective is the transport loss
:math:`\frac1B \sum_k \langle P_k, C_k\rangle_F` between the frozen teacher's English token
embeddings and the student's (Huang, Yu & Allan, WSDM 2023, arXiv 2301.12566).

Examples
--------
>>> import tempfile
>>> info = ModelCardInfo(base_model="intfloat/multilingual-e5-small", teacher="intfloat/multilingual-e5-small",
...                      src_lang="en", tgt_lang="sw", objective="ot+nce", bitext="en-sw.tsv", bitext_pairs=3000,
...                      steps=100, batch_size=16, dev=[{"step": 100, "bitext_p@1": 0.91}])
>>> folder = tempfile.mkdtemp()
>>> card = write_model_card(folder, info)
>>> card.read_text().splitlines()[0]
'---'
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from optical.cache import atomic_write

CARD_NAME = "README.md"
INFO_NAME = "optical_card.json"

# Run-management fields of a training config that say nothing about the model.
NOT_OPTIONS = frozenset({
    "out", "resume", "quiet", "log_every", "eval_every", "checkpoint_every", "device", "teacher", "student",
    "bitext", "dev_bitext", "src_lang", "tgt_lang", "objective", "steps", "batch_size", "seed", "max_pairs",
})

CITATION = """@inproceedings{huang2023optical,
    title = "Improving Cross-lingual Information Retrieval on Low-Resource Languages via Optimal Transport
             Distillation",
    author = "Huang, Zhiqi and Yu, Puxuan and Allan, James",
    booktitle = "Proceedings of the Sixteenth ACM International Conference on Web Search and Data Mining",
    year = "2023",
    url = "https://arxiv.org/abs/2301.12566",
}"""

DEV_NAMES = {"bitext_p@1": "bitext P@1", "parallel_cosine": "parallel cosine",
             "student_pairwise_cosine": "student pairwise cosine (collapse if high)"}


def optical_version() -> str:
    """The installed optical's version (the package metadata, else ``optical.__version__``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("optical")
    except PackageNotFoundError:
        from optical import __version__

        return __version__


def current_command() -> str:
    """The command line of this process, as a user would type it (``optical ...`` or ``python ...``)."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    program = "optical" if program in ("optical", "cli.py", "__main__.py") else f"python {sys.argv[0]}"
    return " ".join([program, *(shlex.quote(a) for a in sys.argv[1:])])


@dataclass
class ModelCardInfo:
    """What a model card says about the run that made the model.

    Parameters
    ----------
    base_model, teacher
        The student's starting model and the frozen teacher (hub names or folders).
    src_lang, tgt_lang
        The teacher's (English) side and the student's language of the bitext.
    objective, options
        The objective's name (``ot``, ``ot+nce``, ...) and every option of the run (eps, weights,
        learning rate, ...), as the training config holds them.
    bitext, bitext_pairs, steps, batch_size, seed
        The training bitext, how many of its pairs were used, optimizer steps, pairs per step.
    dev
        The run's dev evaluations, one dict per check (``step`` and its measures), in order.
    test
        Test results from ``optical evaluate`` (see :func:`update_model_card_evaluation`).
    """

    base_model: str
    teacher: str
    src_lang: str
    tgt_lang: str
    objective: str
    bitext: str
    bitext_pairs: int
    steps: int
    batch_size: int
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    dev: list[dict[str, float]] = field(default_factory=list)
    test: dict[str, Any] = field(default_factory=dict)
    command: str = field(default_factory=current_command)
    optical_version: str = field(default_factory=optical_version)
    created: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))

    @classmethod
    def from_config(cls, config: Any, *, bitext_pairs: int, evaluations: Iterable[dict] = (),
                    command: str | None = None, **overrides: Any) -> ModelCardInfo:
        """From a training config with the fields of :class:`optical.distill.run.DistillConfig`.

        ``evaluations`` are the run's dev checks (``TrainResult.evaluations``, or
        :func:`read_evaluations` of its ``eval.jsonl``); the pairs per step count accumulation.
        ``overrides`` replace fields, e.g. ``base_model=`` when the student was built in memory.
        """
        values = asdict(config) if is_dataclass(config) else dict(vars(config))
        options = {k: v for k, v in values.items() if k not in NOT_OPTIONS}
        info = cls(
            base_model=str(values["student"]), teacher=str(values["teacher"]), src_lang=values["src_lang"],
            tgt_lang=values["tgt_lang"], objective=values["objective"], bitext=str(values["bitext"]),
            bitext_pairs=int(bitext_pairs), steps=int(values["steps"]),
            batch_size=int(values["batch_size"]) * int(values.get("grad_accum", 1)), seed=values.get("seed"),
            options=options, dev=[dict(e) for e in evaluations],
        )
        if command is not None:
            info.command = command
        for name, value in overrides.items():
            if name not in {f.name for f in fields(cls)}:
                raise TypeError(f"ModelCardInfo has no field {name!r}")
            setattr(info, name, value)
        return info

    @classmethod
    def from_dict(cls, values: dict) -> ModelCardInfo:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def read_evaluations(path: str | os.PathLike) -> list[dict]:
    """The dev checks a training run logged (its ``eval.jsonl``); empty when there is none."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def front_matter(info: ModelCardInfo) -> dict[str, Any]:
    """The card's YAML metadata, as the hub reads it."""
    return {
        "library_name": "sentence-transformers",
        "base_model": info.base_model,
        "language": list(dict.fromkeys([info.tgt_lang, info.src_lang])),
        "tags": ["sentence-transformers", "sentence-similarity", "feature-extraction", "cross-lingual-retrieval",
                 "knowledge-distillation", *(["optimal-transport"] if "ot" in info.objective.split("+") else []),
                 "optical"],
        "pipeline_tag": "sentence-similarity",
    }


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_number(v) for v in row) + " |" for row in rows]


def _dev_section(info: ModelCardInfo) -> list[str]:
    if not info.dev:
        return ["No dev evaluation was run (`--dev-bitext`)."]
    first, last = info.dev[0], info.dev[-1]
    measures = [k for k in last if k != "step"]
    rows = [[DEV_NAMES.get(m, m), first.get(m, ""), last[m]] for m in measures]
    text = [f"Held-out bitext ({info.src_lang}-{info.tgt_lang}), checked during the run: retrieval of each "
            f"{info.tgt_lang} sentence among the {info.src_lang} ones (P@1), the mean cosine of parallel pairs "
            "and the student's mean pairwise cosine.", ""]
    return text + _table(["measure", f"step {first.get('step', 0)}", f"step {last.get('step', info.steps)}"], rows)


def _test_section(test: dict[str, Any]) -> list[str]:
    if not test:
        return []
    lines = ["", "### Test (`optical evaluate`)", "",
             f"Collection `{test.get('collection', '')}`, system `{test.get('system', '')}`"
             + (f", evaluated {test['created']}" if test.get("created") else "") + ".", ""]
    measures = test.get("measures", [])
    for setting, rows in test.get("settings", {}).items():
        table_rows = [[row["label"], *(row["aggregates"].get(m, "") for m in measures)] for row in rows]
        macro = test.get("macro", {}).get(setting)
        if macro and len(rows) > 1:
            table_rows.append(["**macro**", *(macro.get(m, "") for m in measures)])
        lines += [f"{setting}:", "", *_table(["queries→documents", *measures], table_rows), ""]
    return lines[:-1]


def _usage(folder: Path | None) -> list[str]:
    prefix = ""
    if folder is not None and (folder / "optical_encoder.json").exists():
        prefix = json.loads((folder / "optical_encoder.json").read_text()).get("query_prefix", "")
    prompt = f', prompt="{prefix}"' if prefix else ""
    return ["```python", "from sentence_transformers import SentenceTransformer", "",
            'model = SentenceTransformer("path/to/this/folder")',
            f'queries = model.encode(["..."]{prompt})', "```", "",
            "or with optical: `optical.models.Encoder.load(\"path/to/this/folder\")`. Documents are encoded "
            "by the teacher."]


def render_model_card(info: ModelCardInfo, folder: str | os.PathLike | None = None) -> str:
    """The card's text: YAML front matter, then description, usage, training, evaluation, versions."""
    import yaml

    folder = Path(folder) if folder is not None else None
    name = folder.name if folder is not None else "optical student"
    pairs_seen = info.steps * info.batch_size
    lines = ["---", yaml.safe_dump(front_matter(info), sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# {name}", "",
             f"A {info.tgt_lang} query encoder for cross-lingual retrieval, distilled with "
             f"[optical](https://arxiv.org/abs/2301.12566) from the frozen teacher `{info.teacher}` "
             f"({info.src_lang} side of the bitext), starting from `{info.base_model}`. It maps "
             f"{info.tgt_lang} queries into the teacher's space, so {info.src_lang} documents keep the "
             "teacher's embeddings.", "", "## Usage", "", *_usage(folder), "", "## Training", ""]
    rows = [["base model (student start)", f"`{info.base_model}`"], ["teacher (frozen)", f"`{info.teacher}`"],
            ["languages", f"{info.tgt_lang} (student) ← {info.src_lang} (teacher)"],
            ["objective", f"`{info.objective}`"],
            ["bitext", f"`{info.bitext}`: {info.bitext_pairs} pairs"],
            ["steps", f"{info.steps} × {info.batch_size} pairs ({pairs_seen} pairs seen)"],
            ["seed", info.seed]]
    lines += _table(["", ""], rows)
    if info.options:
        lines += ["", "Options of the run:", "",
                  *_table(["option", "value"], [[f"`{k}`", f"`{v}`"] for k, v in info.options.items()])]
    lines += ["", "## Evaluation", "", "### Dev (from the training run)", "", *_dev_section(info),
              *_test_section(info.test), "",
              "## Framework versions", "", f"- optical {info.optical_version}", *_library_versions(), "",
              f"Created {info.created} by:", "", "```bash", info.command, "```", "",
              "## Citation", "", "```bibtex", CITATION, "```", ""]
    return "\n".join(lines)


def _library_versions() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    lines = []
    for package in ("torch", "transformers", "sentence-transformers"):
        try:
            lines.append(f"- {package} {version(package)}")
        except PackageNotFoundError:
            pass
    return lines


def _write_atomically(path: Path, text: str) -> None:
    with atomic_write(path) as handle:
        handle.write(text)


def write_model_card(folder: str | os.PathLike, info: ModelCardInfo) -> Path:
    """Write ``folder/README.md`` (the card) and ``folder/optical_card.json`` (``info``); return the card's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomically(folder / INFO_NAME, json.dumps(asdict(info), indent=1, ensure_ascii=False, default=str) + "\n")
    card = folder / CARD_NAME
    _write_atomically(card, render_model_card(info, folder))
    return card


def read_model_card_info(folder: str | os.PathLike) -> ModelCardInfo:
    """The information a card was written from (``optical_card.json``)."""
    return ModelCardInfo.from_dict(json.loads((Path(folder) / INFO_NAME).read_text(encoding="utf-8")))


def _load_report(report: dict | str | os.PathLike) -> dict:
    if isinstance(report, dict):
        return report
    path = Path(report)
    return json.loads((path / "results.json" if path.is_dir() else path).read_text(encoding="utf-8"))


def report_system(report: dict, folder: str | os.PathLike) -> str | None:
    """The system of an ``optical evaluate`` report whose query encoder is ``folder`` (None if none is)."""
    encoders = report.get("info", {}).get("config", {}).get("query_encoder") or []
    target = Path(folder).resolve()
    for name, encoder in zip(report.get("systems", []), encoders, strict=False):
        if encoder != "bm25" and Path(encoder).resolve() == target:
            return name
    return None


def system_results(report: dict, system: str) -> dict[str, Any]:
    """One system's rows of an ``optical evaluate`` report (``report_to_dict``), per setting."""
    settings: dict[str, list[dict]] = {}
    for row in report.get("results", []):
        if row["system"] == system:
            settings.setdefault(row["setting"], []).append(
                {"label": row.get("label") or row.get("task"), "aggregates": row["aggregates"]})
    if not settings:
        raise ValueError(f"system {system!r} is not in the report (systems: {report.get('systems')})")
    return {"collection": report.get("collection", ""), "system": system, "measures": report.get("measures", []),
            "settings": settings, "macro": report.get("macro", {}).get(system, {}),
            "created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def update_model_card_evaluation(folder: str | os.PathLike, report: dict | str | os.PathLike,
                                 system: str | None = None) -> Path:
    """Put the test results of an ``optical evaluate`` report on ``folder``'s card and render it again.

    ``report`` is the ``report_to_dict`` dict, a ``results.json`` or the ``--out`` folder holding
    it; ``system`` defaults to the report's system whose query encoder is ``folder``.
    """
    if not (Path(folder) / INFO_NAME).exists():
        raise ValueError(f"{folder} has no optical model card ({INFO_NAME}): write one with write_model_card")
    data = _load_report(report)
    system = system or report_system(data, folder)
    if system is None:
        raise ValueError(f"no system of the report has {folder} as its query encoder; pass system=")
    info = read_model_card_info(folder)
    info.test = system_results(data, system)
    return write_model_card(folder, info)


def update_model_cards(report: dict | str | os.PathLike) -> list[Path]:
    """Update the card of every query encoder of an ``optical evaluate`` report that has one.

    Folders without an ``optical_card.json`` (models optical did not train) are left alone.
    """
    data = _load_report(report)
    encoders = data.get("info", {}).get("config", {}).get("query_encoder") or []
    updated: dict[Path, Path] = {}
    for name, encoder in zip(data.get("systems", []), encoders, strict=False):
        folder = Path(encoder).resolve()
        if encoder != "bm25" and folder not in updated and (folder / INFO_NAME).exists():
            updated[folder] = update_model_card_evaluation(folder, data, name)  # the first system per folder
    return list(updated.values())
