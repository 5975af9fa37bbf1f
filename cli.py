"""`python cli.py ...` from a source checkout: the same command line as the installed `vit-edge`.

The code lives in vit_edge/cli.py, so that the wheel installs one import name (vit_edge) and
the `vit-edge` entry point reaches it.
"""

from vit_edge.cli import main

if __name__ == "__main__":
    main()
