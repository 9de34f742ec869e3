"""`python -m ocilocal` runs the `ocilocal` command."""

from ocilocal.cli import main

main()
