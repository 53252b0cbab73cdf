"""Hedgerow's command line: parses, calls node/, prints. It holds no logic.

Modules: :mod:`.main` (the root ``hedgerow`` group), :mod:`.common` (data
directory, ``--json``, errors), :mod:`.output` (rich, plain and JSON
printing), and one module per group of commands: :mod:`.identity` (init,
invite, keys, profile), :mod:`.running` (up, status, backup, restore,
caught-up), :mod:`.records`, :mod:`.sharing` (share, retract, credit),
:mod:`.peers` (peer, sync), :mod:`.demo`, :mod:`.views` (view, export,
verify); :mod:`.reference` generates docs/commands.md.
"""

from .main import hedgerow, main

__all__ = ["hedgerow", "main"]
