"""`python -m dialer` is the `dialer` command; with no arguments it runs the daemon."""

import sys

from dialer.cli import main

sys.exit(main(sys.argv[1:] or ["run"]))
