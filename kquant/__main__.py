"""Allow ``python -m kquant``."""

from kquant.cli import main

if __name__ == "__main__":
    main()
