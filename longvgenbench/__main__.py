"""``python -m longvgenbench`` (also what ``torchrun -m longvgenbench`` runs)."""

from longvgenbench.cli import main

main()
