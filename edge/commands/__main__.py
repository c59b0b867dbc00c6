"""``python -m edge.commands`` runs the ``simpang`` CLI."""

import sys

from edge.commands import main

sys.exit(main())
