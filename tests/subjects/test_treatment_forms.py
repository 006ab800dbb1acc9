"""Lymphodepletion and CAR-T infusion forms (issue 4 item 5): the Day-0 clock from the site-local
date of the first infusion (07:30 Asia/Shanghai = 23:30 UTC the day before), re-anchoring when
the infusion moves, the dose query against the assigned level (CLINICAL_SPEC §7 example),
lifecycle steps triggered by the forms, chain of identity, and DESIGN §4a on the form pages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from clinical.schedule import study_day
from crf.models import Query, QueryStatus
from crf.services import save
from subjects.models import Infusion, Lymphodepletion, Subject, Visit
from subjects.services import subject as services
from tests.subjects.conftest import ENROLLED

pytestmark = pytest.mark.req("ISSUE-4")

PLANNED = date(2026, 3, 20)
SHANGHAI_0730 = datetime(2026, 3, 19, 23, 30, tzinfo=UTC)  # 07:30 on 20 March in Asia/Shanghai


@pytest.fixture
def enrolled_at(screened, coordinator, schedule):
    def _enrolled(dose_level: str = "DL2") -> Subject:
        return services.enrol(
            user=coordinator, subject=screened(), on=ENROLLED, dose_level=dose_level, planned_infusion_date=PLANNED
        )

    return _enrolled


def lymphodeplete(user, subject, **values) -> Lymphodepletion:
    data = {
        "fludarabine_mg_m2": Decimal("30"),
        "cyclophosphamide_mg_m2": Decimal("300"),
        "bsa_m2": Decimal("1.80"),
        "start_date": date(2026, 3, 15),
        "end_date": date(2026, 3, 17),
    }
    data.update(values)
    return save(user=user, instance=Lymphodepletion(subject=subject, **data), expected_version=None)


def infuse(user, subject, **values) -> Infusion:
    data = {
        "product_id": "CD7-0001",
        "lot_number": "L2603",
        "source": "autologous",
        "state": "fresh",
        "bag_id": "BAG-1",
        "bag_matches_subject": True,
        "checked_by_first": "Nurse Liu",
        "checked_by_second": "Dr Wang",
        "infusion_start": SHANGHAI_0730,
        "volume_ml": Decimal("50"),
        "viable_cells_e6": Decimal("100"),  # 1.0×10⁸
        "car_positive_pct": Decimal("60"),
        "weight_kg": Decimal("70"),
    }
    data.update(values)
    return save(user=user, instance=Infusion(subject=subject, **data), expected_version=None)


def planned_date_of(subject: Subject, code: str) -> date | None:
    return Visit.objects.get(subject=subject, definition__code=code).planned_date


def dose_queries(infusion: Infusion):
    return Query.objects.filter(object_id=infusion.pk, rule_code="DOSE-OUT-OF-RANGE")


# --- the Day-0 clock ---------------------------------------------------------------------------


def test_infusion_at_0730_shanghai_is_day_0_on_the_shanghai_date(enrolled_at, coordinator):
    subject = enrolled_at()
    lymphodeplete(coordinator, subject)
    infusion = infuse(coordinator, subject, infusion_start=SHANGHAI_0730)
    subject.refresh_from_db()
    assert infusion.infusion_start.date() == date(2026, 3, 19)  # the UTC date is the day before
    assert infusion.infusion_date == date(2026, 3, 20)
    assert subject.infusion_date == date(2026, 3, 20)
    assert study_day(date(2026, 3, 19), subject.day0) == -1
    assert study_day(date(2026, 3, 20), subject.day0) == 0
    assert study_day(date(2026, 3, 21), subject.day0) == 1
    assert planned_date_of(subject, "D1") == date(2026, 3, 21)


def test_the_form_page_takes_site_local_time_and_stores_utc(enrolled_at, coordinator, login):
    subject = enrolled_at()
    lymphodeplete(coordinator, subject)
    client = login(coordinator)
    response = client.post(
        f"/subjects/{subject.pk}/forms/INF/new/",
        {
            "product_id": "CD7-0001",
            "lot_number": "L2603",
            "source": "autologous",
            "state": "thawed",
            "thaw_time": "2026-03-20T07:05",
            "bag_id": "BAG-1",
            "bag_matches_subject": "on",
            "checked_by_first": "Nurse Liu",
            "checked_by_second": "Dr Wang",
            "infusion_start": "2026-03-20T07:30",
            "infusion_end": "2026-03-20T07:45",
            "volume_ml": "50",
            "viable_cells_e6": "100",
            "car_positive_pct": "60",
            "weight_kg": "70",
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    infusion = Infusion.objects.get(subject=subject)
    assert infusion.infusion_start == SHANGHAI_0730
    assert infusion.thaw_time == datetime(2026, 3, 19, 23, 5, tzinfo=UTC)
    page = client.get(response["Location"]).content.decode()
    assert 'value="2026-03-20T07:30"' in page  # shown back in site time
    assert "Site time (Asia/Shanghai)." in page
    assert '2026-03-20 <span class="study-day">day 0</span>' in page  # derived infusion date
    assert "0.8571" in page


def test_reanchoring_when_the_infusion_moves(enrolled_at, coordinator):
    subject = enrolled_at()
    assert planned_date_of(subject, "D0") == date(2026, 3, 20)
    lymphodeplete(coordinator, subject)
    d1 = Visit.objects.get(subject=subject, definition__code="D1")
    from subjects.services.visits import record_visit_date

    record_visit_date(user=coordinator, visit=d1, visit_date=date(2026, 3, 21))
    # the infusion happened two days late: planned dates move, the visit date entered stays
    infusion = infuse(coordinator, subject, infusion_start=datetime(2026, 3, 22, 1, 0, tzinfo=UTC))
    assert planned_date_of(subject, "D0") == date(2026, 3, 22)
    assert planned_date_of(subject, "D28") == date(2026, 4, 19)
    assert planned_date_of(subject, "LD") == date(2026, 3, 17)
    d1.refresh_from_db()
    assert d1.visit_date == date(2026, 3, 21) and d1.planned_date == date(2026, 3, 23)
    assert Query.objects.filter(rule_code="VISIT-OUT-OF-WINDOW", object_id=d1.pk, status=QueryStatus.OPEN).exists()
    # a correction of the start moves day 0 again
    infusion.infusion_start = datetime(2026, 3, 21, 1, 0, tzinfo=UTC)
    save(user=coordinator, instance=infusion, expected_version=infusion.version)
    subject.refresh_from_db()
    assert subject.infusion_date == date(2026, 3, 21)
    assert planned_date_of(subject, "D1") == date(2026, 3, 22)


def test_split_infusion_day_0_is_the_first(enrolled_at, coordinator):
    subject = enrolled_at()
    lymphodeplete(coordinator, subject)
    infuse(coordinator, subject, bag_id="BAG-1", viable_cells_e6=Decimal("60"))
    infuse(coordinator, subject, bag_id="BAG-2", infusion_start=datetime(2026, 3, 21, 0, 0, tzinfo=UTC))
    subject.refresh_from_db()
    assert subject.infusion_date == date(2026, 3, 20)
    assert Infusion.objects.filter(subject=subject).count() == 2


# --- the dose query ----------------------------------------------------------------------------


def test_spec_example_is_in_range_for_dl2(enrolled_at, coordinator):
    subject = enrolled_at("DL2")
    lymphodeplete(coordinator, subject)
    infusion = infuse(coordinator, subject)  # 70 kg, 1.0×10⁸ viable, 60% CAR+
    assert infusion.car_positive_per_kg_e6 == Decimal("0.8571")
    assert infusion.dose_level == "DL2"
    assert (infusion.dose_lower_e6, infusion.dose_upper_e6) == (Decimal("0.7000"), Decimal("1.3000"))
    assert infusion.dose_in_range is True
    assert infusion.settings_version == 1
    assert not dose_queries(infusion).exists()


def test_spec_example_is_out_of_range_for_dl1_and_raises_the_dose_query(enrolled_at, coordinator):
    subject = enrolled_at("DL1")
    lymphodeplete(coordinator, subject)
    infusion = infuse(coordinator, subject)
    assert (infusion.dose_lower_e6, infusion.dose_upper_e6) == (Decimal("0.3500"), Decimal("0.6500"))
    assert infusion.dose_in_range is False
    query = dose_queries(infusion).get()
    assert query.status == QueryStatus.OPEN
    assert query.field_name == "car_positive_per_kg_e6"
    assert query.value == "0.8571"
    # corrected weight → 100×10⁶ × 60% / 100 kg = 0.6×10⁶/kg: in range, the query closes itself
    infusion.weight_kg = Decimal("100")
    infusion = save(user=coordinator, instance=infusion, expected_version=infusion.version)
    assert infusion.car_positive_per_kg_e6 == Decimal("0.6000")
    assert dose_queries(infusion).get().status == QueryStatus.CLOSED


def test_range_ends_are_included(enrolled_at, coordinator):
    subject = enrolled_at("DL2")
    lymphodeplete(coordinator, subject)
    # 70 kg × 0.7×10⁶/kg = 49×10⁶ CAR+ cells = 81.6667×10⁶ viable at 60%: use 100% CAR+ instead
    at_lower = infuse(coordinator, subject, viable_cells_e6=Decimal("49"), car_positive_pct=Decimal("100"))
    assert at_lower.car_positive_per_kg_e6 == Decimal("0.7000") and at_lower.dose_in_range is True
    below = infuse(
        coordinator, subject, bag_id="BAG-2", viable_cells_e6=Decimal("48.993"), car_positive_pct=Decimal("100")
    )
    assert below.dose_in_range is False


# --- lifecycle steps from the forms ------------------------------------------------------------


def test_lymphodepletion_then_infusion_move_the_subject_through_the_lifecycle(enrolled_at, coordinator):
    subject = enrolled_at()
    lymphodeplete(coordinator, subject, start_date=date(2026, 3, 15))
    subject.refresh_from_db()
    assert (subject.status, subject.status_date) == ("lymphodepleted", date(2026, 3, 15))
    infuse(coordinator, subject)
    subject.refresh_from_db()
    assert (subject.status, subject.status_date) == ("infused", date(2026, 3, 20))
    # a second lymphodepletion form (a correction, another course) does not step again
    lymphodeplete(coordinator, subject, start_date=date(2026, 3, 16))
    subject.refresh_from_db()
    assert subject.status == "infused"


def test_infusion_before_lymphodepletion_is_refused(enrolled_at, coordinator):
    subject = enrolled_at()
    with pytest.raises(ValidationError, match="Record the lymphodepletion before the infusion"):
        infuse(coordinator, subject)
    assert not Infusion.objects.exists()


def test_treatment_forms_before_enrolment_are_refused(screened, coordinator, schedule):
    subject = screened()
    with pytest.raises(ValidationError, match="Lymphodepletion is recorded for an enrolled subject"):
        lymphodeplete(coordinator, subject)
    assert not Lymphodepletion.objects.exists()


def test_lymphodepletion_dated_before_enrolment_is_refused_on_its_start_date(enrolled_at, coordinator):
    subject = enrolled_at()
    with pytest.raises(ValidationError) as refused:
        lymphodeplete(coordinator, subject, start_date=date(2026, 3, 4), end_date=date(2026, 3, 6))
    assert "start_date" in refused.value.message_dict
    assert not Lymphodepletion.objects.exists()


# --- form rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"checked_by_second": " nurse  LIU "}, "checked_by_second"),
        ({"bag_matches_subject": False}, "bag_matches_subject"),
        ({"state": "thawed", "thaw_time": None}, "thaw_time"),
        ({"state": "fresh", "thaw_time": SHANGHAI_0730}, "thaw_time"),
        ({"infusion_end": datetime(2026, 3, 19, 23, 0, tzinfo=UTC)}, "infusion_end"),
    ],
)
def test_infusion_form_rules(enrolled_at, coordinator, values, field):
    subject = enrolled_at()
    lymphodeplete(coordinator, subject)
    with pytest.raises(ValidationError) as refused:
        infuse(coordinator, subject, **values)
    assert field in refused.value.message_dict


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"fludarabine_mg_m2": None, "cyclophosphamide_mg_m2": None}, "fludarabine_mg_m2"),
        ({"other_agent": "Bendamustine"}, "other_agent_mg_m2"),
        ({"end_date": date(2026, 3, 14)}, "end_date"),
    ],
)
def test_lymphodepletion_form_rules(enrolled_at, coordinator, values, field):
    subject = enrolled_at()
    with pytest.raises(ValidationError) as refused:
        lymphodeplete(coordinator, subject, **values)
    assert field in refused.value.message_dict


# --- DESIGN §4a on the form pages --------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "view", "post"),
    [
        ("coordinator", 200, 302),
        ("investigator", 200, 302),
        ("monitor", 200, 403),
        ("data_manager", 200, 403),
        ("statistician", 403, 403),
        ("study_admin", 403, 403),
    ],
)
def test_lymphodepletion_page_permissions(enrolled_at, users_a, login, role, view, post):
    subject = enrolled_at()
    client = login(users_a[role])
    assert client.get(f"/subjects/{subject.pk}/forms/LD/new/").status_code == view
    response = client.post(
        f"/subjects/{subject.pk}/forms/LD/new/",
        {"fludarabine_mg_m2": "30", "cyclophosphamide_mg_m2": "300", "bsa_m2": "1.8", "start_date": "2026-03-15"},
    )
    assert response.status_code == post
    if post == 302:
        subject.refresh_from_db()
        assert subject.status == "lymphodepleted"


def test_infusion_page_of_another_sites_subject_is_not_found(enrolled_at, site_b, login):
    from study.roles import Role
    from tests.conftest import make_user

    subject = enrolled_at()
    stranger = make_user("investigator_b", site=site_b, role=Role.INVESTIGATOR)
    assert login(stranger).get(f"/subjects/{subject.pk}/forms/INF/new/").status_code == 404


def test_a_dose_level_change_rederives_the_infusion_and_its_dose_query(enrolled_at, coordinator):
    subject = enrolled_at("DL1")
    lymphodeplete(coordinator, subject)
    infusion = infuse(coordinator, subject)
    assert dose_queries(infusion).get().status == QueryStatus.OPEN
    services.change_dose_level(user=coordinator, subject=subject, dose_level="DL2", reason="assignment error")
    infusion.refresh_from_db()
    assert (infusion.dose_level, infusion.dose_in_range) == ("DL2", True)
    assert infusion.version == 2
    assert dose_queries(infusion).get().status == QueryStatus.CLOSED


# --- an infusion entered in error ----------------------------------------------------------------


def test_an_infusion_entered_in_error_no_longer_anchors_day_0(enrolled_at, coordinator):
    """CLINICAL_SPEC §7 (day 0 = first infusion), DESIGN "Day-0 clock": the wrong infusion on
    20 March is marked entered in error → day 0 is the remaining one on 22 March; the visits,
    the subject's status date and an AE's onset study day follow, audited with the reason."""
    from adverse_events.models import AdverseEvent
    from crf.services import mark_entered_in_error

    subject = enrolled_at()
    lymphodeplete(coordinator, subject)
    wrong = infuse(coordinator, subject, bag_id="BAG-1")
    infuse(coordinator, subject, bag_id="BAG-2", infusion_start=datetime(2026, 3, 22, 1, 0, tzinfo=UTC))
    ae = save(
        user=coordinator,
        instance=AdverseEvent(
            subject=subject,
            ctcae_term="Nausea",
            grade=2,
            onset_date=date(2026, 3, 25),
            relationship_car_t="possible",
            relationship_lymphodepletion="probable",
            outcome="recovering",
        ),
        expected_version=None,
    )
    assert ae.onset_study_day == 5
    mark_entered_in_error(user=coordinator, instance=wrong, expected_version=wrong.version, reason="other bag")
    subject.refresh_from_db()
    assert (subject.infusion_date, subject.status, subject.status_date) == (
        date(2026, 3, 22),
        "infused",
        date(2026, 3, 22),
    )
    assert planned_date_of(subject, "D1") == date(2026, 3, 23)
    assert planned_date_of(subject, "D28") == date(2026, 4, 19)
    ae.refresh_from_db()
    assert ae.onset_study_day == 3
    assert ae.events.order_by("-pgh_id").first().pgh_context["reason"] == "re-derived: infusion entered in error"


def test_the_only_infusion_entered_in_error_takes_the_subject_back_to_lymphodepleted(enrolled_at, coordinator):
    """No infusion left: no day 0 (the clock falls back to the planned date), status back to
    "lymphodepleted" on its own date, audited with the reason."""
    from crf.services import mark_entered_in_error

    subject = enrolled_at()
    lymphodeplete(coordinator, subject, start_date=date(2026, 3, 15))
    wrong = infuse(coordinator, subject, infusion_start=datetime(2026, 3, 22, 1, 0, tzinfo=UTC))
    mark_entered_in_error(user=coordinator, instance=wrong, expected_version=wrong.version, reason="wrong subject")
    subject.refresh_from_db()
    assert (subject.infusion_date, subject.status, subject.status_date) == (None, "lymphodepleted", date(2026, 3, 15))
    assert planned_date_of(subject, "D0") == PLANNED
    assert subject.events.order_by("-pgh_id").first().pgh_context["reason"] in (
        "infusion entered in error: wrong subject",
        "re-derived: infusion entered in error",
    )
    assert subject.events.filter(
        status="lymphodepleted", pgh_context__reason="infusion entered in error: wrong subject"
    )


def test_the_only_infusion_of_a_subject_in_follow_up_is_refused_with_what_to_do(enrolled_at, coordinator):
    from crf.services import mark_entered_in_error
    from subjects.lifecycle import Event

    subject = enrolled_at()
    lymphodeplete(coordinator, subject)
    wrong = infuse(coordinator, subject)
    services.change_status(user=coordinator, subject=subject, event=Event.START_FOLLOW_UP, on=date(2026, 3, 21))
    with pytest.raises(ValidationError) as exc:
        mark_entered_in_error(user=coordinator, instance=wrong, expected_version=wrong.version, reason="wrong subject")
    assert "enter the correct infusion first" in str(exc.value)
    wrong.refresh_from_db()
    subject.refresh_from_db()
    assert (wrong.entered_in_error, subject.infusion_date, subject.status) == (False, date(2026, 3, 20), "follow_up")
