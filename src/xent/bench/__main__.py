"""`python -m xent.bench --out DIR [--quick] [--only NAME]` (`make bench`)."""

from xent.bench.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
