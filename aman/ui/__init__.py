"""The console: a browser UI served by the daemon at ``/ui/`` from files inside this package.

``static/`` holds hand-written HTML, CSS and ES modules (no build step, nothing fetched from
another host); ``session`` signs the console's session cookie. The routes live in
``aman/http/routes/ui.py``.
"""

from __future__ import annotations

from pathlib import Path

#: The folder served at /ui/.
STATIC_DIR = Path(__file__).resolve().parent / "static"
