"""``python -m kquant.server --key KEY [--idle SECONDS]``: the server process, as
:func:`kquant.server.control.start` starts it (detached, its output in the log)."""

from __future__ import annotations

import argparse
import sys

from kquant.server.daemon import serve


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m kquant.server")
    parser.add_argument("--key", required=True)
    parser.add_argument("--idle", type=float, default=None, help="exit after SECONDS idle")
    args = parser.parse_args()
    return serve(args.key, args.idle)


if __name__ == "__main__":
    sys.exit(main())
