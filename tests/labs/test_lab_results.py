"""Lab results on the CRF core (issue 6 item 1; CLINICAL_SPEC §1.3): impossible values refused
with a field error, implausible ones queried, the site's reference range by sex and age when the
report gives none, the panel page saving a collection all or nothing, stale versions refused,
site isolation, the Chinese page, and `latest_results` in standard units."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal as D

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from clinical.units import Panel
from crf.models import Query
from crf.services import StaleVersionError, save
from labs.models import LabResult, ReferenceRange
from labs.selectors import latest_results
from labs.services import PanelError, PanelRow, record_lab_panel
from tests.factories import identity

pytestmark = pytest.mark.req("ISSUE-6")

DRAWN = date(2026, 3, 2)


@pytest.fixture
def coordinator(users_a):
    return users_a["coordinator"]


def result(user, subject, **values) -> LabResult:
    data = {"collected_on": DRAWN, "panel": "CBC", "analyte": "ANC", "value": D("1.2"), "unit": "10^9/L"}
    data.update(values)
    return save(user=user, instance=LabResult(subject=subject, **data), expected_version=None)


def panel(user, subject, rows, *, on=DRAWN, at=time(8, 0), complete=False, existing=None, reason="", sex="M"):
    return record_lab_panel(
        user=user,
        subject=subject,
        panel=Panel.CBC,
        collected_on=on,
        collected_time=at,
        visit=None,
        sex=sex,
        rows=rows,
        complete=complete,
        existing=existing,
        reason=reason,
    )


def queries_on(instance) -> list[str]:
    return list(
        Query.objects.filter(
            content_type=ContentType.objects.get_for_model(LabResult), object_id=instance.pk, status="open"
        ).values_list("rule_code", flat=True)
    )


# --- derivation -------------------------------------------------------------------------------


def test_reported_unit_and_range_are_kept_and_converted(coordinator, subject_a):
    hgb = result(coordinator, subject_a, analyte="HGB", value=D("7.9"), unit="g/dL", lln=D("11.5"), uln=D("15.0"))
    hgb.refresh_from_db()
    assert (hgb.value, hgb.unit, hgb.lln, hgb.uln) == (D("7.9"), "g/dL", D("11.5"), D("15.0"))
    assert (hgb.standard_value, hgb.standard_unit) == (D("79"), "g/L")
    assert (hgb.standard_lln, hgb.standard_uln) == (D("115"), D("150"))
    assert (hgb.flag, hgb.range_source) == ("L", "report")


def test_bilirubin_in_mg_dl_is_stored_in_umol_l(coordinator, subject_a):
    bili = result(coordinator, subject_a, panel="CHEM", analyte="TBIL", value=D("2.0"), unit="mg/dL", uln=D("1.2"))
    bili.refresh_from_db()
    assert (bili.standard_value, bili.standard_uln, bili.flag) == (D("34.2"), D("20.52"), "H")


# --- impossible: refused; implausible: queried ------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"analyte": "ANC", "value": D("-0.1")}, "value"),
        ({"analyte": "BLAST", "value": D("100.5"), "unit": "%"}, "value"),
        ({"analyte": "HGB", "value": D("31"), "unit": "g/dL"}, "value"),  # 310 g/L
        ({"analyte": "HGB", "value": D("9"), "unit": "mg/dL"}, "unit"),
        ({"analyte": "ANC", "value": D("1"), "lln": D("2"), "uln": D("1")}, "uln"),
        ({"panel": "CHEM", "analyte": "ANC"}, "analyte"),
    ],
)
def test_impossible_values_are_refused_with_a_field_error(coordinator, subject_a, values, field):
    with pytest.raises(ValidationError) as info:
        result(coordinator, subject_a, **values)
    assert field in info.value.message_dict
    assert not LabResult.objects.exists()


def test_the_impossible_limit_itself_is_allowed(coordinator, subject_a):
    saved = result(coordinator, subject_a, analyte="BLAST", value=D("100"), unit="%")
    assert saved.pk is not None


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "queried"),
    [
        ("ANC", D("100"), "10^9/L", False),
        ("ANC", D("100.1"), "10^9/L", True),
        ("ANC", D("100100"), "/uL", True),
        ("PLT", D("2000"), "10^9/L", False),
        ("PLT", D("2001"), "10^9/L", True),
        ("HGB", D("250"), "g/L", False),
        ("HGB", D("25.1"), "g/dL", True),
    ],
)
def test_implausible_values_are_saved_with_a_query(coordinator, subject_a, analyte, value, unit, queried):
    saved = result(coordinator, subject_a, analyte=analyte, value=value, unit=unit)
    assert queries_on(saved) == (["LB-IMPLAUSIBLE"] if queried else [])


def test_correcting_an_implausible_value_closes_its_query(coordinator, subject_a):
    saved = result(coordinator, subject_a, analyte="PLT", value=D("2500"))
    assert queries_on(saved) == ["LB-IMPLAUSIBLE"]
    saved.value = D("250")
    saved = save(user=coordinator, instance=saved, expected_version=saved.version)
    assert queries_on(saved) == []


# --- reference range defaulting by sex and age ------------------------------------------------


@pytest.fixture
def hgb_ranges(site_a):
    rows = [
        ("", 0, None, "100", "160"),  # both sexes, any age
        ("M", 18, None, "130", "175"),
        ("F", 18, None, "115", "150"),
        ("", 0, 18, "110", "145"),
    ]
    for sex, age_from, age_to, lln, uln in rows:
        ReferenceRange.objects.create(
            site=site_a, analyte="HGB", sex=sex, age_from=age_from, age_to=age_to, unit="g/L", lln=D(lln), uln=D(uln)
        )


@pytest.mark.parametrize(
    ("born", "sex", "expected"),
    [
        (date(1990, 5, 1), "M", (D("130"), D("175"))),
        (date(1990, 5, 1), "F", (D("115"), D("150"))),
        (date(1990, 5, 1), "", (D("100"), D("160"))),  # sex unknown: the both-sexes range
        (date(2008, 3, 2), "M", (D("130"), D("175"))),  # 18 today: the adult band
        (date(2008, 3, 3), "M", (D("110"), D("145"))),  # 17: the paediatric band
        (None, "M", (D("100"), D("160"))),  # no date of birth: only the all-ages range
    ],
)
def test_site_reference_range_by_sex_and_age(coordinator, subject_a, hgb_ranges, born, sex, expected):
    if born is not None:
        identity(subject_a, born=born)
    saved = result(coordinator, subject_a, analyte="HGB", value=D("12.0"), unit="g/dL", sex=sex)
    saved.refresh_from_db()
    assert (saved.standard_lln, saved.standard_uln) == expected
    assert saved.range_source == "site_table"


def test_the_reports_own_range_wins_over_the_site_table(coordinator, subject_a, hgb_ranges):
    saved = result(coordinator, subject_a, analyte="HGB", value=D("120"), unit="g/L", sex="M", lln=D("120"))
    saved.refresh_from_db()
    assert (saved.standard_lln, saved.standard_uln, saved.range_source, saved.flag) == (D("120"), None, "report", "N")


# --- the panel service: all or nothing ---------------------------------------------------------


def test_a_panel_saves_one_row_per_typed_analyte(coordinator, subject_a):
    saved = panel(
        coordinator,
        subject_a,
        [
            PanelRow("WBC", D("4.2"), "10^9/L"),
            PanelRow("ANC", D("2100"), "/uL"),
            PanelRow("HGB", D("9.8"), "g/dL"),
            PanelRow("PLT", None, "10^9/L"),
        ],
    )
    assert sorted(r.analyte for r in saved) == ["ANC", "HGB", "WBC"]
    rows = {r.analyte: r for r in LabResult.objects.all()}
    assert rows["ANC"].standard_value == D("2.1")
    assert rows["HGB"].standard_value == D("98")
    assert {r.collected_time for r in rows.values()} == {time(8, 0)}


def test_one_bad_row_saves_nothing(coordinator, subject_a):
    with pytest.raises(PanelError) as info:
        panel(
            coordinator,
            subject_a,
            [PanelRow("WBC", D("4.2"), "10^9/L"), PanelRow("BLAST", D("120"), "%"), PanelRow("HGB", D("98"), "g/L")],
        )
    assert list(info.value.row_errors) == ["BLAST"]
    assert "value" in info.value.row_errors["BLAST"]
    assert not LabResult.objects.exists()


def test_anc_above_wbc_is_refused(coordinator, subject_a):
    with pytest.raises(PanelError) as info:
        panel(coordinator, subject_a, [PanelRow("WBC", D("4.2"), "10^9/L"), PanelRow("ANC", D("4300"), "/uL")])
    assert list(info.value.row_errors) == ["ANC"]
    assert not LabResult.objects.exists()


def test_a_stale_row_refuses_the_whole_panel(coordinator, users_a, subject_a):
    first = panel(coordinator, subject_a, [PanelRow("WBC", D("4.2"), "10^9/L"), PanelRow("HGB", D("98"), "g/L")])
    existing = {r.analyte: r for r in first}
    opened = {code: r.version for code, r in existing.items()}
    # someone else corrects the WBC meanwhile
    other = LabResult.objects.get(analyte="WBC")
    other.value = D("4.4")
    save(user=users_a["investigator"], instance=other, expected_version=other.version)
    fresh = {code: LabResult.objects.get(pk=r.pk) for code, r in existing.items()}
    with pytest.raises(StaleVersionError):
        panel(
            coordinator,
            subject_a,
            [
                PanelRow("WBC", D("4.3"), "10^9/L", expected_version=opened["WBC"]),
                PanelRow("HGB", D("99"), "g/L", expected_version=opened["HGB"]),
            ],
            existing=fresh,
        )
    values = dict(LabResult.objects.values_list("analyte", "value"))
    assert values == {"WBC": D("4.4"), "HGB": D("98")}  # HGB not changed either


def test_a_second_new_collection_at_the_same_time_is_refused_not_a_500(coordinator, subject_a):
    panel(coordinator, subject_a, [PanelRow("WBC", D("4.2"), "10^9/L")])
    with pytest.raises(PanelError) as info:
        panel(coordinator, subject_a, [PanelRow("WBC", D("5.0"), "10^9/L")])
    assert info.value.collection_errors["__all__"]
    assert LabResult.objects.count() == 1


# --- selector ---------------------------------------------------------------------------------


def test_latest_results_in_standard_units(coordinator, subject_a, django_assert_num_queries):
    result(coordinator, subject_a, analyte="ANC", value=D("400"), unit="/uL", collected_on=date(2026, 3, 1))
    result(coordinator, subject_a, analyte="ANC", value=D("0.9"), collected_on=date(2026, 3, 5), collected_time=time(7))
    result(coordinator, subject_a, analyte="ANC", value=D("0.7"), collected_on=date(2026, 3, 5))  # untimed: earlier
    wrong = result(coordinator, subject_a, analyte="PLT", value=D("80"), collected_on=date(2026, 3, 6))
    result(coordinator, subject_a, analyte="PLT", value=D("30000"), unit="/uL", collected_on=date(2026, 3, 4))
    from crf.services import mark_entered_in_error

    mark_entered_in_error(user=coordinator, instance=wrong, expected_version=wrong.version, reason="wrong subject")
    with django_assert_num_queries(1):
        latest = latest_results(subject_a, ["ANC", "PLT", "HGB"])
    assert (latest["ANC"].value, latest["ANC"].unit, latest["ANC"].collected_time) == (D("0.9"), "10^9/L", time(7))
    assert latest["PLT"].value == D("30")
    assert "HGB" not in latest
    before = latest_results(subject_a, ["ANC"], on_or_before=date(2026, 3, 4))
    assert before["ANC"].value == D("0.4")


def test_a_changed_site_range_re_derives_the_results_that_use_it(coordinator, subject_a, site_a):
    from labs.services import record_reference_range

    plt_range = ReferenceRange.objects.create(site=site_a, analyte="PLT", unit="10^9/L", lln=D("100"), uln=D("300"))
    from_table = result(coordinator, subject_a, analyte="PLT", value=D("120"))
    own_range = result(
        coordinator, subject_a, analyte="PLT", value=D("120"), collected_on=date(2026, 3, 3), lln=D("100")
    )
    assert from_table.flag == "N"
    plt_range.lln = D("125")
    changed = record_reference_range(user=None, reference_range=plt_range, reason="new analyser")
    assert [r.pk for r in changed] == [from_table.pk]
    from_table.refresh_from_db()
    own_range.refresh_from_db()
    assert (from_table.standard_lln, from_table.flag, from_table.version) == (D("125"), "L", 2)
    assert (own_range.standard_lln, own_range.flag, own_range.version) == (D("100"), "N", 1)
