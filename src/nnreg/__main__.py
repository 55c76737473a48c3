"""``python -m nnreg`` runs the command line."""

from nnreg.command import run

run()
