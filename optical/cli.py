"""``optical`` command line: each sub-command parses flags into its library config and calls it."""

from __future__ import annotations

import argparse
import sys

from optical.config import add_config_arguments, build_config


def _quickstart(args: argparse.Namespace) -> int:
    from optical.demo import DemoConfig, run_demo

    run_demo(build_config(DemoConfig, args))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from optical import __version__
    from optical.demo import DemoConfig

    parser = argparse.ArgumentParser(prog="optical", description="Cross-lingual retrieval for low-resource languages.")
    parser.add_argument("--version", action="version", version=f"optical {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    quickstart = commands.add_parser(
        "quickstart", help="the main job on a small embedded default (for now: the batched Sinkhorn demonstration)"
    )
    add_config_arguments(quickstart, DemoConfig)
    quickstart.set_defaults(run=_quickstart)
    return parser


def main(argv: list[str] | None = None) -> int:
    import torch

    # Denormals from exp() of very negative exponents slow CPU kernels several-fold.
    torch.set_flush_denormal(True)
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"optical {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
