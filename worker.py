"""Run a DocState worker for this repository's pipelines (``workflows/``).

    python worker.py [--task-queue Q] [--database-url URL] [--pipelines mod1,mod2]

The same as ``docstate worker``: settings from ``DOCSTATE_*`` variables or flags, then
the engine's ``run_worker``; SIGTERM or SIGINT drains running transitions, then exits.
"""

import sys

from docstate.cli import main

if __name__ == "__main__":
    main(["worker", *sys.argv[1:]])
