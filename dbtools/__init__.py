"""Database tooling every layer may use: the PostgreSQL client programs for the server in use
(`pgtools.py`), used by the project's backups and test templates (trialsite/) and by the
synthetic study's dump cache (demo/); and the write path's statements compiled once per process
(`prepared.py`, issue 22), used by study/ and every app above. Imports Django only, no app: the
lowest layer (issue 23)."""
