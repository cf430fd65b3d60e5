"""The hub process: `python -m workers.hub` (run by supervisord)."""

import sys

from bus.hub import Hub

from .common import worker_main


def main() -> int:
    return worker_main("hub", lambda: Hub().run())


if __name__ == "__main__":
    sys.exit(main())
