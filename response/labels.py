"""A derived response label in the reader's language (issue 23): the shared renderer of crf/
shows it through the hook `crf.hooks.response_label_text`, registered in `ResponseConfig.ready`,
since the categories are response/'s."""

from __future__ import annotations

from django.utils.translation import gettext as _

from response.models import ResponseCategory


def response_label_text(label: str) -> str:
    """A derived response with MRD ("CR MRD−", "CR, MRD unknown", "relapse"; clinical.response
    .response_label) in the reader's language: the category by its label, MRD as written."""
    labels = {key: str(text) for key, text in ResponseCategory.choices}
    category, _sep, rest = label.partition(",") if "," in label else label.partition(" ")
    if category not in labels:
        return label
    if label.endswith(", MRD unknown"):
        return _("%(category)s, MRD unknown") % {"category": labels[category]}
    return f"{labels[category]} {rest}".strip()
