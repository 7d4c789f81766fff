"""``python -m aman`` runs the command line."""

from aman.cli.main import main

raise SystemExit(main())
