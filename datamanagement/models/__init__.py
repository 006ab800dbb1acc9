"""Data-management models (DESIGN §3 datamanagement/), one module per topic: electronic
signatures, the audit index and the PDF documents (`signatures_audit_pdf`), and the
notifications (`notices`). Import them from here; pghistory adds each tracked model's event model
to this package."""

from __future__ import annotations

from datamanagement.models.notices import (
    DEFAULT_DELIVERY,
    DIGEST_ONLY,
    MailKind,
    MailStatus,
    Notice,
    NoticeDelivery,
    NoticeKind,
    NoticeMail,
    NotificationPreference,
)
from datamanagement.models.signatures_audit_pdf import (
    AuditIndex,
    PdfDownload,
    PdfJob,
    PdfKind,
    PdfLanguage,
    Signature,
    SignatureMeaning,
    SignatureScope,
)

__all__ = [
    "DEFAULT_DELIVERY",
    "DIGEST_ONLY",
    "AuditIndex",
    "MailKind",
    "MailStatus",
    "Notice",
    "NoticeDelivery",
    "NoticeKind",
    "NoticeMail",
    "NotificationPreference",
    "PdfDownload",
    "PdfJob",
    "PdfKind",
    "PdfLanguage",
    "Signature",
    "SignatureMeaning",
    "SignatureScope",
]
