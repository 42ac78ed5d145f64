"""Entry point: `python app.py [command]` (default: serve). See `python app.py --help` and `cli/`."""

import sys

from cli import main

if __name__ == "__main__":
    sys.exit(main())
