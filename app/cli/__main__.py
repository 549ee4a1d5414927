"""`python -m app.cli ...` is `napkin-gpt ...`."""

from app.cli.main import main

raise SystemExit(main())
