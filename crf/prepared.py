"""The write path's statements compiled once per process: `dbtools.prepared` (issue 22). It
moved to the lowest layer so that study/ (the memberships behind every access check) can use
it too; the form apps' imports from here keep working."""

from dbtools.prepared import Prepared, prepared

__all__ = ["Prepared", "prepared"]
