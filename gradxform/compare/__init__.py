"""The ``gradxform`` command line (``compare``, ``sweep``); the library never imports this package."""
