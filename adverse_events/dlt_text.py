"""DLT findings in the reader's language (issue 25 item 3).

`clinical.dlt` writes each candidate's finding as a message id with named parameters
(`Candidate.code`, `Candidate.params`); the candidate row stores both
(`DltCandidate.description_code`, `description_params`: the audited truth) next to the English
sentence (`description`, kept for exports and the API). A page renders the stored code and
parameters in the reader's language — whoever's request produced the finding — with the CTCAE
term named in Chinese beside the English term for a Chinese reader (`study.language.ctcae_term_label`).
Nothing is read back from the English sentence.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_noop

from crf import display

#: The message ids of clinical.dlt (FINDINGS there), marked for translation.
FINDINGS = (
    gettext_noop("%(what)s grade 4 on day %(day)s"),
    gettext_noop("%(what)s grade 3 on %(run)s consecutive days from day %(start)s"),
    gettext_noop("Acute GvHD overall grade %(roman)s"),
    gettext_noop("%(term)s grade 4 at the day-%(window)s assessment (awaiting marrow)"),
    gettext_noop("%(term)s grade 4 at the day-%(window)s assessment, marrow blasts %(blasts)s%%"),
    gettext_noop("%(term)s grade %(grade)s from day %(day)s, not back to grade ≤ 1 within %(days)s days"),
    gettext_noop("Death on day %(day)s, not from progression"),
)


def finding_message(candidate: Any) -> dict[str, Any]:
    """A candidate's finding as a message to nest in another message's parameters (the
    confirmed-DLT alert): {"code": …, "params": {…}}."""
    return {"code": candidate.description_code, "params": dict(candidate.description_params or {})}


def finding_text(candidate: Any) -> str:
    """A candidate's finding in the active language, a system message as every other
    (`crf.display.system_message`: its CTCAE term named as `ctcae_term_label` names it); a row
    without a code (none should remain after the data migration) shows its stored sentence."""
    return display.system_message(candidate, "description")
