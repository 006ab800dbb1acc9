"""The display layer (crf.display, issue 25 items 1–2): a stored value as its label in the
reader's language, an instant in a zone with the zone named. No database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from django.utils import translation

from adverse_events.models import AdverseEvent, CrsAssessment
from crf import display
from study.language import name_of
from subjects.models import Infusion

pytestmark = pytest.mark.req("ISSUE-25")

AT = datetime(2026, 12, 6, 3, 22, 41, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("Asia/Shanghai", "2026-12-06 11:22 +08:00"),
        ("America/New_York", "2026-12-05 22:22 -05:00"),
        ("UTC", "2026-12-06 03:22 UTC"),
        ("", "2026-12-06 03:22 UTC"),
        ("Not/AZone", "2026-12-06 03:22 UTC"),
    ],
)
def test_an_instant_is_shown_in_the_zone_with_the_zone_named(zone, shown):
    assert display.when(AT, zone) == shown


def test_without_a_zone_the_reader_zone_is_used_else_utc():
    assert display.when(AT) == "2026-12-06 03:22 UTC"
    token = display.reader_zone_var.set(display.zone_named("Asia/Shanghai"))
    try:
        assert display.when(AT, seconds=True) == "2026-12-06 11:22:41 +08:00"
    finally:
        display.reader_zone_var.reset(token)
    assert display.when(None) == "—"


@pytest.mark.parametrize(
    ("language", "yes", "no"),
    [("en", "Yes", "No"), ("zh-hans", "是", "否")],
)
def test_booleans_read_yes_no_in_the_reader_language(language, yes, no):
    with translation.override(language):
        assert display.value_text(True) == yes
        assert display.value_text(False) == no


def test_choices_lists_decimals_dates_and_blanks():
    state = Infusion._meta.get_field("state")
    volume = Infusion._meta.get_field("volume_ml")
    with translation.override("en"):
        assert display.value_text("thawed", state) == "Thawed (cryopreserved)"
        assert display.value_text(Decimal("12.5"), volume) == "12.5 mL"
        assert display.value_text(date(2026, 12, 5)) == "2026-12-05"
        assert display.value_text(date(2026, 12, 5), day0=date(2026, 12, 1)) == "2026-12-05 (day 4)"
        assert display.value_text(date(2026, 11, 30), day0=date(2026, 12, 1)) == "2026-11-30 (day \u22121)"
        assert display.value_text(time(15, 0)) == "15:00"
        for blank in (None, "", [], {}):
            assert display.value_text(blank) == "—"
    with translation.override("zh-hans"):
        assert display.value_text("thawed", state) not in ("thawed", "Thawed (cryopreserved)")


def test_a_list_of_choices_is_joined_by_labels():
    field = CrsAssessment._meta.get_field("vasopressors")
    keys = [key for key, _label in field.base_field.flatchoices][:2]
    with translation.override("en"):
        shown = display.value_text(keys, field)
    labels = [str(label) for key, label in field.base_field.flatchoices][:2]
    assert shown == ", ".join(labels)
    assert "[" not in shown and "'" not in shown


def test_names_follow_the_reader_language():
    class Named:
        name = "Peking Union"
        name_zh = "协和"

    with translation.override("zh-hans"):
        assert name_of(Named()) == "协和"
    with translation.override("en"):
        assert name_of(Named()) == "Peking Union"


@pytest.mark.parametrize(
    ("label", "english", "chinese_has"),
    [
        ("CR MRD−", "CR MRD−", "MRD−"),
        ("CR, MRD unknown", "CR, MRD unknown", "MRD 未知"),
        ("relapse", "Relapse", "复发"),
    ],
)
def test_a_derived_response_label_reads_in_the_reader_language(label, english, chinese_has):
    with translation.override("en"):
        assert display.response_label_text(label) == english
    with translation.override("zh-hans"):
        assert chinese_has in display.response_label_text(label)


def test_a_ctcae_term_field_reads_with_its_chinese_name_for_a_chinese_reader():
    """Casebook, record history and PDF read a field through `field_text`: the stored term stays
    the English CTCAE term, the Chinese reader sees the project's Chinese name beside it."""
    ae = AdverseEvent(ctcae_term="Febrile neutropenia", grade=3)
    with translation.override("en"):
        assert display.field_text(ae, "ctcae_term") == "Febrile neutropenia"
    with translation.override("zh-hans"):
        assert display.field_text(ae, "ctcae_term") == "Febrile neutropenia 发热性中性粒细胞减少症"
