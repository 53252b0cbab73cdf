"""``python -m cli``: the ``hedgerow`` command, for environments without the script."""

from .main import main

main()
