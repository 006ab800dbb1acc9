"""DLT findings in the reader's language (issue 25 item 3).

`clinical.dlt` writes each candidate's finding as an English sentence (`DltCandidate.description`,
the audited text, deterministic from the data). The sentences follow the message ids below, so a
page reads a finding back to its code and parameters (`trialsite.system_text.parse`) and shows it
in the reader's language; a sentence that matches none shows as written.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

from trialsite import system_text

#: The sentences of clinical.dlt (_syndrome_candidate, detect_candidates), as message ids.
FINDINGS = (
    gettext_noop("%(what)s grade 4 on day %(day)s"),
    gettext_noop("%(what)s grade 3 on %(run)s consecutive days from day %(start)s"),
    gettext_noop("Acute GvHD overall grade %(roman)s"),
    gettext_noop("%(term)s grade 4 at the day-%(window)s assessment (awaiting marrow)"),
    gettext_noop("%(term)s grade 4 at the day-%(window)s assessment, marrow blasts %(blasts)s%%"),
    gettext_noop("%(term)s grade %(grade)s from day %(day)s, not back to grade ≤ 1 within %(days)s days"),
    gettext_noop("Death on day %(day)s, not from progression"),
)


def finding_text(description: str) -> str:
    """A DLT finding in the active language."""
    found = system_text.parse(description, candidates=FINDINGS)
    return system_text.render(*found) if found else description
