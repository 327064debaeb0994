"""`python -m tipbot` is the `tipbot` command."""

from tipbot.cli import main

main(prog_name="tipbot")
