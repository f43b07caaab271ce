"""``python -m eraser``: the ``eraser`` command."""

import sys

from eraser.cli import main

if __name__ == "__main__":  # not when a spawned batch worker re-imports the main module
    sys.exit(main())
