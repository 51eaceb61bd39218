"""`python -m composer ...`: the `compose` command (also what `torchrun -m composer` runs)."""

from composer.cli import main

main()
