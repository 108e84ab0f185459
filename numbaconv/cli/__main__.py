"""``python -m numbaconv.cli`` runs the ``numbaconv`` command, as ``python -m numbaconv`` does."""

import sys

from . import main

sys.exit(main())
