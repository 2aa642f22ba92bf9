"""``python -m vocoder`` runs the ``vocoder`` command."""

import sys

from .cli import main

sys.exit(main())
