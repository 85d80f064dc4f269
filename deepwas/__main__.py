"""``python -m deepwas``: the same command as the ``deepwas`` console script."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
