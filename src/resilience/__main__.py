"""``python -m resilience``: the demo, and the status of a configuration."""

from __future__ import annotations

import sys

from resilience._cli.main import main

if __name__ == "__main__":
    sys.exit(main())
