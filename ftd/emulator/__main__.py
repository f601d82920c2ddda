"""``python -m ftd.emulator``: the same command as ``ftd emulator``, without the CLI registry."""

from __future__ import annotations

import argparse

from ftd.emulator import command


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="ftd emulator",
        description=command.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.configure(parser, "emulator")
    try:
        return command.run(parser.parse_args())
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
