"""``optical`` command line: each sub-command parses flags into its library config and calls it."""

from __future__ import annotations

import argparse
import sys

from optical.config import add_config_arguments, build_config


def _quickstart(args: argparse.Namespace) -> int:
    from optical.quickstart import QuickstartConfig, run_quickstart

    run_quickstart(build_config(QuickstartConfig, args))
    return 0


def _solver_demo(args: argparse.Namespace) -> int:
    from optical.demo import DemoConfig, run_demo

    run_demo(build_config(DemoConfig, args))
    return 0


def _distill(args: argparse.Namespace) -> int:
    from optical.distill.run import DistillConfig, distill

    config = build_config(DistillConfig, args)
    result = distill(config)
    print(f"distilled {result.steps} steps in {result.seconds / 60:.1f} min; student saved to {config.out}/model")
    for numbers in result.evaluations:
        print("  " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in numbers.items()))
    return 0


def _train_hybrid(args: argparse.Namespace) -> int:
    from optical.hybrid.run import HybridConfig, train_hybrid

    config = build_config(HybridConfig, args)
    result = train_hybrid(config)
    print(f"trained {result.steps} steps in {result.seconds / 60:.1f} min; model saved to {config.out}/model")
    return 0


def _align(args: argparse.Namespace) -> int:
    from optical.align import AlignConfig, align

    config = build_config(AlignConfig, args)
    print(align(config).format(config.top))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from optical import __version__
    from optical.demo import DemoConfig
    from optical.distill.run import DistillConfig

    parser = argparse.ArgumentParser(prog="optical", description="Cross-lingual retrieval for low-resource languages.")
    parser.add_argument("--version", action="version", version=f"optical {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    from optical.quickstart import QuickstartConfig

    quickstart = commands.add_parser(
        "quickstart", help="the main job: build the default data, distil a Swahili student, evaluate it (CPU, ~10 min)"
    )
    add_config_arguments(quickstart, QuickstartConfig)
    quickstart.set_defaults(run=_quickstart)
    demo = commands.add_parser("solver-demo", help="the batched Sinkhorn solver on a planted alignment, checked by POT")
    add_config_arguments(demo, DemoConfig)
    demo.set_defaults(run=_solver_demo)
    distill = commands.add_parser("distill", help="distil a student query encoder from a frozen teacher on bitext")
    add_config_arguments(distill, DistillConfig)
    distill.set_defaults(run=_distill)
    from optical.hybrid.run import HybridConfig

    hybrid = commands.add_parser("train-hybrid", help="fine-tune a dual encoder with mono/cross/hybrid batches")
    add_config_arguments(hybrid, HybridConfig)
    hybrid.set_defaults(run=_train_hybrid)
    from optical.align import AlignConfig

    align = commands.add_parser("align", help="show the transport plan (token alignment) of one sentence pair")
    add_config_arguments(align, AlignConfig)
    align.set_defaults(run=_align)
    from optical.eval.cli import add_evaluate_command

    add_evaluate_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    import logging

    import torch

    # Denormals from exp() of very negative exponents slow CPU kernels several-fold.
    torch.set_flush_denormal(True)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # per-shard loading bars would drown the command's own progress
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"optical {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
