"""``python -m pgfa`` runs the command line."""
import sys

from pgfa.cli.main import main

sys.exit(main())
