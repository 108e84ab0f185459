"""``python -m numbaconv`` runs the ``numbaconv`` command."""

import sys

from .cli import main

sys.exit(main())
