"""``python -m nnreg`` runs the command line."""

from nnreg.cli import run

run()
