"""`python -m fastact`: the command-line interface."""
import sys

from fastact._cli import main

sys.exit(main())
