"""``python -m comparisons.cli``: the same as the ``tms-phases`` console script."""

import sys

from . import main

sys.exit(main())
