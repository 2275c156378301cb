"""``python -m a3sim``: the command line (:mod:`a3sim.cli`)."""

import sys

from .cli import main

sys.exit(main())
