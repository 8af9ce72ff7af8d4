"""``python -m gradxform`` runs the ``gradxform`` command: see :mod:`gradxform.compare.cli`."""
import sys

from gradxform.compare.cli import main

if __name__ == "__main__":
    sys.exit(main())
