"""``dockyard completion bash|zsh``: a shell completion script for every command and option.

The script is generated from the command's own argument parser (with shtab), so it never
lags behind the commands. Install it once:

    dockyard completion bash > /etc/bash_completion.d/dockyard
    dockyard completion zsh > "${fpath[1]}/_dockyard"
"""

from __future__ import annotations

import argparse
import sys

import shtab

SHELLS = ("bash", "zsh")


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    root: argparse.ArgumentParser,
) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh)",
        description="Print a completion script for SHELL; e.g. "
        "`dockyard completion bash > /etc/bash_completion.d/dockyard`.",
    )
    parser.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash or zsh")

    def run(args: argparse.Namespace) -> int:
        sys.stdout.write(shtab.complete(root, shell=args.shell))
        return 0

    parser.set_defaults(handler=run)
