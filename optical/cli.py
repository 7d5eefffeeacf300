"""``optical`` command line: each sub-command parses flags into its library config and calls it.

Ordinary mistakes (a missing file, a model folder that does not exist, a bad option value) print
one line, ``optical <command>: error: <what>, <flag> <value>``, and exit with status 2; Ctrl-C
prints one line and exits with 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from optical.config import InputError, add_config_arguments, build_config, flag

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C


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


def _add_command(commands: argparse._SubParsersAction, name: str, summary: str, description: str,
                 config_cls: type, handler) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=summary, description=description)
    add_config_arguments(parser, config_cls)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from optical import __version__
    from optical.align import AlignConfig
    from optical.demo import DemoConfig
    from optical.distill.run import DistillConfig
    from optical.eval.cli import add_evaluate_command
    from optical.hybrid.run import HybridConfig
    from optical.quickstart import QuickstartConfig

    parser = argparse.ArgumentParser(prog="optical", description="Cross-lingual retrieval for low-resource languages.")
    parser.add_argument("--version", action="version", version=f"optical {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_command(
        commands, "quickstart",
        "the main job: build the default data, distil a Swahili student, evaluate it (CPU, ~5 min)",
        "The whole OPTICAL experiment for one language: build the Bible bitext and WikiCLIR-style collection "
        "if missing, distil a query encoder from the frozen English teacher, evaluate it against the zero-shot "
        "student and the English-query ceiling. Rerunning resumes from the last checkpoint.",
        QuickstartConfig, _quickstart)
    _add_command(
        commands, "solver-demo", "the batched Sinkhorn solver on a planted alignment, checked by POT",
        "Solve a batch of ragged transport problems with a planted alignment, check the plans against POT "
        "and the gradient modes against each other (about 15 s).",
        DemoConfig, _solver_demo)
    _add_command(
        commands, "distill", "distil a student query encoder from a frozen teacher on bitext",
        "Train a student query encoder on bitext: the frozen teacher reads the English side, the student the "
        "foreign side, and an objective (OPTICAL's transport loss, mse, token-mse, nce or a sum) pulls the "
        "student toward the teacher. Rerunning the same command resumes from the last checkpoint.",
        DistillConfig, _distill)
    _add_command(
        commands, "train-hybrid", "fine-tune a dual encoder with mono/cross/hybrid batches",
        "Fine-tune one shared dual encoder with InfoNCE on batches that are monolingual with probability "
        "--alpha and cross-lingual otherwise, from mMARCO-layout training triples in several languages.",
        HybridConfig, _train_hybrid)
    _add_command(
        commands, "align", "show the transport plan (token alignment) of one sentence pair",
        "Print the transport plan that the OPTICAL loss sees for one sentence pair (teacher on the English "
        "sentence, student on the foreign one) and, with --out, draw it as a heat map.",
        AlignConfig, _align)
    add_evaluate_command(commands)
    for sub in commands.choices.values():
        sub.add_argument("--allow-download", action="store_true", default=argparse.SUPPRESS,
                         help="let a model name that is not a local folder be downloaded from a hub "
                              "(off: such a name is an error; HF_HUB_OFFLINE=0 also allows it)")
    return parser


def _flag_of(value: Any, args: argparse.Namespace) -> str | None:
    """The flag whose value was ``value`` on this command line, if any."""
    for name, given in vars(args).items():
        if name in ("handler", "command"):
            continue
        for item in given if isinstance(given, list | tuple) else (given,):
            if item is not None and not isinstance(item, bool) and str(item) == str(value):
                return flag(name)
    return None


def describe_error(error: Exception, args: argparse.Namespace) -> str:
    """``<what>, <flag> <value>`` for an error that names a value; the message itself otherwise."""
    if isinstance(error, InputError):
        what, value = error.what, error.value
    elif isinstance(error, OSError) and error.filename is not None:
        what, value = (error.strerror or type(error).__name__).lower(), error.filename
    else:
        return str(error)
    where = _flag_of(value, args)
    return f"{what}, {where} {value}" if where else f"{what}, {value}"


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
    if getattr(args, "allow_download", False):
        os.environ["OPTICAL_ALLOW_DOWNLOAD"] = "1"  # read by Encoder, wherever a command loads a model
    try:
        return args.handler(args)
    except KeyboardInterrupt as interrupt:
        detail = f" ({interrupt})" if str(interrupt) else ""
        print(f"optical {args.command}: interrupted{detail}; rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError) as error:
        print(f"optical {args.command}: error: {describe_error(error, args)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
