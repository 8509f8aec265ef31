"""`python -m xent`: the command line."""

import sys

from xent.cli import main

sys.exit(main())
