"""Allow ``python -m kquant``."""

from kquant.cli import main

main()
