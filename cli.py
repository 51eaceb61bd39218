#!/usr/bin/env python3
"""`python cli.py ...` from a source checkout: the same as the installed `compose` command."""

from composer.cli import main

if __name__ == "__main__":
    main()
