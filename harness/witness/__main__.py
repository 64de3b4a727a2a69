"""`python -m harness.witness`: see process.py."""

from .process import main

raise SystemExit(main())
