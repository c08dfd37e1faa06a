"""``python -m ncse_cli`` runs the command-line interface."""

from ncse_cli.cli import main

main()
