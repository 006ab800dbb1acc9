"""One conformance finding: what is wrong (or noted) where. Errors mark the export as failing
conformance; warnings ask for a look; notes document a deliberate choice (an expected variable
left out with its reason, text made ASCII, a codelist whose terms are not shipped)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"
NOTE = "note"
SEVERITIES = (ERROR, WARNING, NOTE)


@dataclass(frozen=True)
class Finding:
    severity: str
    check: str
    dataset: str
    message: str
    variable: str = ""
    row: int | None = None  # 1-based record number in the dataset

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = ".".join(p for p in (self.dataset, self.variable) if p)
        if self.row is not None:
            where += f" row {self.row}"
        return f"{self.severity.upper()} [{self.check}] {where}: {self.message}"
