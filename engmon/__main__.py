"""`python -m engmon` runs the command-line interface."""

from engmon.cli import main

main()
