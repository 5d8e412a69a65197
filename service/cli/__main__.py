"""``python -m service.cli``: the same entry point as the ``vsm`` console script."""

import sys

from service.cli import main

sys.exit(main())
