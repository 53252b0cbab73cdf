"""The ``hedgerow`` command."""

from __future__ import annotations

from importlib.metadata import version

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version("hedgerow"), prog_name="hedgerow")
def hedgerow() -> None:
    """Hedgerow: a node in a federated network of local organisations.

    Keep your group's practice records private, share signed summaries with
    the network, and see what others do and who learned from whom.
    """


def main() -> None:
    hedgerow(prog_name="hedgerow")
