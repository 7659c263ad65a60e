"""`python -m datakit`: the command line (`datakit.launch`, then `datakit.cli`)."""

from .launch import main

main()
