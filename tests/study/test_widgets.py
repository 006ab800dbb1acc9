"""Date inputs keep their value in Chinese: `<input type=date>` takes ISO only, and Django
rendered the Chinese input format ("2026/12/07"), which the browser shows as an empty field — the
export and endpoint-run pages opened in Chinese with no cut-off date, and a form shown again after
an error lost the typed date. Every date and datetime-local input renders ISO (study.widgets)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.utils import translation

from endpoints.forms import RunRequestForm
from exports.forms import ExportRequestForm
from study.build_forms import SiteForm

pytestmark = pytest.mark.req("ISSUE-25")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_date_inputs_render_iso_in_every_language(language):
    initial = {"cutoff_date": date(2026, 12, 7), "snapshot_at": datetime(2026, 12, 7, 9, 30)}
    with translation.override(language):
        export = ExportRequestForm(initial=initial, dataset_choices=[("DM", "DM")]).as_p()
        run = RunRequestForm(initial=initial).as_p()
        site = str(SiteForm(initial={"active_from": date(2026, 1, 2)})["active_from"])
    for html in (export, run):
        assert 'type="date" name="cutoff_date" value="2026-12-07"' in html, html
        assert 'type="datetime-local" name="snapshot_at" value="2026-12-07T09:30"' in html, html
    assert 'type="date" name="active_from" value="2026-01-02"' in site, site


def test_a_typed_date_is_shown_again_after_an_error_in_chinese():
    with translation.override("zh-hans"):
        form = RunRequestForm(data={"cutoff_date": "2026-12-07", "snapshot_at": "not a time"})
        assert not form.is_valid() and "snapshot_at" in form.errors
        assert 'value="2026-12-07"' in str(form["cutoff_date"])
