"""`python -m datakit`: the command line (`datakit.cli`)."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line is still being imported
    sys.exit(130)

main()
