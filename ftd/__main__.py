"""Allows ``python -m ftd``, which is how tests and systemd can run it without the script."""

from ftd.cli import main

raise SystemExit(main())
