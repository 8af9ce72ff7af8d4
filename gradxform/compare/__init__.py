"""The ``gradxform compare`` command line; the library never imports this package."""
