"""``python -m docstate``: the ``docstate`` command line."""

from docstate.cli import main

main()
