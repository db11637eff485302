"""``python -m akarom``: the same as the ``akarom`` command."""

from akarom.cli import main

main()
