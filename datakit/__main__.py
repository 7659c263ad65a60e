"""`python -m datakit` runs the command line."""

from .cli import main

main()
