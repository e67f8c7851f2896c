"""The ``engine`` command."""
