"""``python -m tests.tus_client install``: install the tus client's npm packages from the lock file (make test)."""

from __future__ import annotations

import sys

from tests.tus_client import install

if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        raise SystemExit("usage: python -m tests.tus_client install")
    install(force=True)
