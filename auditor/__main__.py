"""`python -m auditor` runs the command line."""

from auditor.commands import entrypoint

entrypoint()
