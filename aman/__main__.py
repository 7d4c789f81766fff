"""``python -m aman`` runs the command line."""

from aman.cli import main

raise SystemExit(main())
