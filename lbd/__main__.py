"""`python -m lbd ...` is the `lbd` command."""

import sys

from lbd.cli import main

sys.exit(main())
