"""Write an :class:`~optical.eval.evaluator.EvaluationReport`: a JSON of every number, a Markdown table.

Markdown: per setting and measure, one row per query language (or language pair) and one column
per system, then the macro average over rows.  A system's cell carries ``†`` when it differs from
the baseline (the first system) on the primary measure at ``alpha`` after the correction across
the setting's rows.  Language bias (mean rank distance, lower is less biased) and alignment
tables follow when measured.
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import asdict
from pathlib import Path

import torch

from optical.eval.evaluator import EvaluationReport

__all__ = ["machine_info", "report_to_dict", "report_to_markdown", "write_report"]


def machine_info() -> dict:
    """The machine, as every results file records it."""
    import os

    return {"platform": platform.platform(), "python": platform.python_version(), "cores": os.cpu_count(),
            "torch": torch.__version__, "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def report_to_dict(report: EvaluationReport) -> dict:
    """Every aggregate, per-query value, test, bias and alignment number, JSON-ready."""
    results = [
        {"system": r.system, "setting": r.setting, "query_lang": r.query_lang, "doc_langs": list(r.doc_langs),
         "label": r.label, "task": r.task, "run_file": r.run_file, **r.evaluation.as_dict()}
        for r in report.results
    ]
    macro = {s: {setting: report.macro(s, setting) for setting in report.settings} for s in report.systems}
    significance = {
        system: {
            setting: {label: _finite(asdict(test)) for label, test in tests.items()}
            for setting, tests in by_setting.items()
        }
        for system, by_setting in report.significance.items()
    }
    return {
        "collection": report.collection,
        "measures": [str(m) for m in report.measures],
        "systems": list(report.systems),
        "macro": macro,
        "results": results,
        "significance": significance,
        "language_bias": report.bias,
        "rank_distance_per_query": report.bias_per_query,
        "alignment": report.alignment,
        "info": report.info,
    }


def _finite(values: dict) -> dict:
    """Infinite t statistics (a constant difference) as strings: JSON has no infinity."""
    return {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}


def _cell(value: float) -> str:
    return f"{value:.4f}"


def report_to_markdown(report: EvaluationReport, *, alpha: float = 0.05) -> str:
    """Tables per setting and measure, then language bias and alignment."""
    lines = [f"# Evaluation of {report.collection}", ""]
    primary = str(report.measures[0])
    for setting in report.settings:
        tasks = list(dict.fromkeys(r.task for r in report.results if r.setting == setting))
        for measure in report.measures:
            name = str(measure)
            lines += [f"## {setting}: {name}", "", "| queries→documents | " + " | ".join(report.systems) + " |",
                      "|---|" + "---:|" * len(report.systems)]
            by_key = {(r.system, r.task): r for r in report.results if r.setting == setting}
            for task in tasks:
                cells = []
                for system in report.systems:
                    value = by_key[(system, task)].evaluation.aggregates[name]
                    test = report.significance.get(system, {}).get(setting, {}).get(task)
                    mark = "†" if name == primary and test is not None and test.significant(alpha) else ""
                    cells.append(_cell(value) + mark)
                lines.append(f"| {report.row_label(setting, task)} | " + " | ".join(cells) + " |")
            macro = [_cell(report.macro(system, setting)[name]) for system in report.systems]
            lines += ["| **macro** | " + " | ".join(macro) + " |", ""]
    if report.significance:
        lines += [f"† differs from {report.systems[0]} on {primary} (paired t-test, "
                  f"{report.info.get('correction', 'holm')} correction across rows, alpha {alpha}).", ""]
    if report.bias:
        langs = list(dict.fromkeys(lang for values in report.bias.values() for lang in values if lang != "macro"))
        lines += ["## Language bias: mean rank distance in the pooled ranking (lower: less biased)", "",
                  "| system | " + " | ".join(langs) + " | macro |", "|---|" + "---:|" * (len(langs) + 1)]
        for system, values in report.bias.items():
            cells = [f"{values[lang]:.1f}" if lang in values else "" for lang in langs]
            lines.append(f"| {system} | " + " | ".join(cells) + f" | {values['macro']:.1f} |")
        lines.append("")
    if report.alignment:
        pairs = list(dict.fromkeys(p for values in report.alignment.values() for p in values))
        lines += ["## Cross-lingual alignment: mean parallel cosine / bitext P@1", "",
                  "| system | " + " | ".join(pairs) + " |", "|---|" + "---:|" * len(pairs)]
        for system, values in report.alignment.items():
            cells = [f"{values[p]['cosine']:.3f} / {values[p]['p_at_1']:.3f}" if p in values else "" for p in pairs]
            lines.append(f"| {system} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_report(report: EvaluationReport, out: str | Path, *, alpha: float = 0.05) -> tuple[Path, Path]:
    """Write ``out/results.json`` and ``out/results.md``; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report.info.setdefault("machine", machine_info())
    json_path, markdown_path = out / "results.json", out / "results.md"
    json_path.write_text(json.dumps(report_to_dict(report), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown_path.write_text(report_to_markdown(report, alpha=alpha), encoding="utf-8")
    return json_path, markdown_path


def write_map_chart(report: EvaluationReport, out: str | Path, measure: str = "AP") -> Path | None:
    """``out/map.png``: ``measure`` per language and system in the report's first setting, with the
    macro average; None when matplotlib is not installed or the report has no such measure."""
    try:
        from optical.plots import plot_map_bars, require_matplotlib

        require_matplotlib()
    except ImportError:
        return None
    if measure not in {str(m) for m in report.measures} or not report.settings:
        return None
    setting = report.settings[0]
    table = {}
    for system in report.systems:
        rows = report.rows(system, setting)
        if rows:
            table[system] = {r.label: r.evaluation.aggregates[measure] for r in rows}
            table[system]["macro"] = report.macro(system, setting)[measure]
    label = "MAP" if measure == "AP" else measure
    return plot_map_bars(table, Path(out) / "map.png", title=f"{label} per language ({setting})", ylabel=label)
