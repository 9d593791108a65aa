"""The DocState command line (also installed as ``docstate``): ``python starter.py --help``."""

from docstate.cli import main

if __name__ == "__main__":
    main()
