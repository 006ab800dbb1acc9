"""The OpenAPI schema says what the API answers when a request fails (issue 21).

drf-spectacular documents the success response of each operation. The API also answers, for
every operation, a bad request (field reasons, a NUL character, a limit out of range, a body
nested too deep: 400), no or an expired token (401), a role that may not (403), an object not
visible to the caller (404) and the database being unavailable (503, with Retry-After); a write
may also meet a conflict (409), a stale or missing `If-Match` (412, 428) or a body of a media
type it does not read (415). Schemathesis (tests/api/test_schemathesis.py) checks every response
against the schema; this postprocessing hook adds those responses where the view did not
declare its own, each a JSON object — a `detail` message, or field names with their reasons.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA_NAME = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Why the request failed: `detail` (and `code`) for the whole request, or each field's name "
        "with the list of its reasons."
    ),
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
    },
    "additionalProperties": True,
}

EVERY_OPERATION = {
    "400": "Bad request: the reasons, per field or for the whole request; nothing was saved.",
    "401": "No valid token.",
    "403": "The caller's role may not do this here.",
    "404": "Not found, or not visible to the caller.",
    "503": "The database is unavailable; nothing was saved. Retry after the `Retry-After` seconds.",
}
WRITES = {
    "409": "Conflict with the stored state (e.g. the study has no protocol settings yet); nothing was saved.",
    "412": "`If-Match` is stale: the body is the current representation.",
    "415": "The body's media type is not one the operation reads.",
    "428": "`If-Match` is required for an update.",
}
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]: the error responses of every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(ERROR_SCHEMA_NAME, ERROR_SCHEMA)
    error = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            wanted = dict(EVERY_OPERATION)
            if method in WRITE_METHODS:
                wanted.update(WRITES)
            for status, description in wanted.items():
                operation["responses"].setdefault(status, {"description": description, "content": error})
    return result
