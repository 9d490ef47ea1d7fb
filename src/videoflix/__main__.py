"""``python -m videoflix``: the same as the ``videoflix`` command.

The command is looked up by name: the package's root must not import its entrypoints (no cycle between packages,
tests/unit/test_architecture.py)."""

from importlib import import_module

if __name__ == "__main__":
    import_module("videoflix.entrypoints.cli.main").cli(prog_name="videoflix")
