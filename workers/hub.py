"""The hub process: `python -m workers.hub` (run by supervisord)."""

from bus.hub import Hub


def main() -> None:
    Hub().run()


if __name__ == "__main__":
    main()
