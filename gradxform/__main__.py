"""``python -m gradxform`` runs the ``gradxform`` command: see :mod:`gradxform._compare`."""
import sys

from gradxform._compare import main

if __name__ == "__main__":
    sys.exit(main())
