"""The ``glocal`` command line: the top layer, which turns errors into exit codes."""
