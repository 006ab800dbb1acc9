"""Toxicity, DLT, response and time-to-event tables of issue 12 for a small study entered
through the services, against literal numbers; per-table CSV/XLSX downloads and the page's
words in Chinese; the per-subject derivation the ADaM datasets will share.

Four infused subjects (day 0 = 20 March 2026, cut-off 30 June = day 102):
- P (DL2): baseline marrow 60% with a TCR marker; CRS G1 day 1, tocilizumab day 2, G2 day 2,
  G0 day 3 (§8 course: one episode, onset 1, 2 days, G2); day 28 CR, flow MRD− (10⁻⁵ on 4×10⁶
  cells), TCR-PCR not detected → molecular remission; marrow relapse day 60, CD7-negative;
  dies of disease day 90.
- Q (DL2): baseline 60%; CRS G3 day 1 (norepinephrine) adjudicated to G2; ICANS G1 day 5
  (ICE 7) with a corticosteroid started that day; day 28 CRi, flow not detected on 20,000 cells
  at 10⁻³ → MRD not evaluable; consolidative HSCT day 40; CR MRD− day 90 (after HSCT: left
  out of the best response); alive day 100.
- R (DL1, 0.497×10⁶/kg): day 28 blasts 40% without a baseline → NR; IEC-HS grade 2 (onset
  day 14); acute GvHD skin 30% → grade I; alive day 95.
- S (DL2): CRS G4 on BiPAP day 2 → DLT candidate, confirmed by the investigator; ANC 0.4 day 0,
  0.6 day 5, 0.3 day 6, 0.8 day 14 → early ICAHT G3 (§8); no marrow → not assessed; alive day 100.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from adverse_events.models import CrsAssessment, CrsEpisode, DltCandidate, GvhdStaging, IcansAssessment, IecHsAssessment
from adverse_events.services import ae_crs_icans as ae_services
from adverse_events.services import dlt as dlt_services
from crf.services import save
from endpoints import courses, services
from endpoints.services import load_cut
from labs.models import LabResult
from response.models import MarrowAssessment, MrdTest
from study.roles import Role
from subjects.models import ConcomitantMedication
from survival.models import SubsequentTherapy
from tests.conftest import make_user
from tests.endpoints.conftest import CUTOFF, day, make_world, now
from tests.endpoints.test_tables import find, nd, run_at, tables_of

pytestmark = pytest.mark.req("ISSUE-12")

BASELINE_ON = day(-8)  # before lymphodepletion (day −5)


def marrow(world, subject, on, *, blasts, anc="1.2", plt="120", pb="0"):
    return save(
        user=world.coordinator,
        instance=MarrowAssessment(
            subject=subject,
            assessment_date=on,
            marrow_blasts_pct=Decimal(blasts),
            peripheral_blasts_pct=Decimal(pb),
            anc=Decimal(anc),
            platelets=Decimal(plt),
        ),
        expected_version=None,
    )


def mrd(world, assessment, *, method="flow", detected=False, level=None, sensitivity="1E-5", cells=4_000_000):
    flow = method == "flow"
    return save(
        user=world.coordinator,
        instance=MrdTest(
            subject=assessment.subject,
            assessment=assessment,
            sample_date=assessment.assessment_date,
            method=method,
            detected=detected,
            level_pct=None if level is None else Decimal(level),
            sensitivity=Decimal(sensitivity),
            cells_analysed=cells if flow else None,
            cd7_independent_gating=True if flow else None,
        ),
        expected_version=None,
    )


def crs(world, subject, n, *, tmax, device="room_air", flow=None, **values):
    if device != "room_air":  # answered, as the form requires with a finding (issue 24)
        values.setdefault("hypoxia_attributable_to_crs", True)
    if values.get("hypotension") or values.get("vasopressors"):
        values.setdefault("hypotension_attributable_to_crs", True)
    return save(
        user=world.coordinator,
        instance=CrsAssessment(
            subject=subject,
            assessment_date=day(n),
            tmax_c=Decimal(tmax),
            oxygen_device=device,
            oxygen_flow_l_min=None if flow is None else Decimal(flow),
            **values,
        ),
        expected_version=None,
    )


def ice(world, subject, n, total):
    items, left = {}, total
    for name, top in (
        ("ice_orientation", 4),
        ("ice_naming", 3),
        ("ice_following_commands", 1),
        ("ice_writing", 1),
        ("ice_counting_backwards", 1),
    ):
        items[name] = min(left, top)
        left -= items[name]
    return save(
        user=world.coordinator,
        instance=IcansAssessment(subject=subject, assessment_date=day(n), language="zh", **items),
        expected_version=None,
    )


def conmed(world, subject, n, category, **values):
    return save(
        user=world.coordinator,
        instance=ConcomitantMedication(
            subject=subject,
            medication_name=category,
            category=category,
            start_date=day(n),
            stop_date=day(n),
            **values,
        ),
        expected_version=None,
    )


def anc(world, subject, n, value):
    return save(
        user=world.coordinator,
        instance=LabResult(
            subject=subject, collected_on=day(n), panel="CBC", analyte="ANC", value=Decimal(value), unit="10^9/L"
        ),
        expected_version=None,
    )


def small_study(world):
    investigator = make_user(f"investigator_{world.study.code}", site=world.site, role=Role.INVESTIGATOR)
    p = world.infused()
    q = world.infused()
    r = world.infused("DL1", viable_cells_e6=Decimal("58"))
    s = world.infused()

    base = marrow(world, p, BASELINE_ON, blasts="60", anc="0.3", plt="20", pb="10")
    mrd(world, base, method="tcr_pcr", detected=True, level="5")
    crs(world, p, 1, tmax="38.6")
    conmed(world, p, 2, "tocilizumab")
    crs(world, p, 2, tmax="37.2", device="nasal_cannula", flow="3")
    crs(world, p, 3, tmax="36.9")
    d28 = marrow(world, p, day(28), blasts="3")
    mrd(world, d28)
    mrd(world, d28, method="tcr_pcr")
    world.relapse(p, day(60), blast_cd7_status="negative")
    world.death(p, day(90), "disease")

    marrow(world, q, BASELINE_ON, blasts="60", anc="0.3", plt="20", pb="10")
    crs(world, q, 1, tmax="39.5", hypotension=True, vasopressors=["norepinephrine"])
    crs(world, q, 2, tmax="37.0")
    episode = CrsEpisode.objects.get(subject=q, superseded=False)
    assert episode.derived_grade == 3
    ae_services.adjudicate_episode(
        user=investigator,
        episode=episode,
        grade=2,
        reason="source: hypotension fluid-responsive",
        expected_version=episode.version,
    )
    ice(world, q, 5, 7)
    conmed(world, q, 5, "corticosteroid", dexamethasone_equivalent_mg=Decimal("10"))
    ice(world, q, 6, 10)
    d28 = marrow(world, q, day(28), blasts="2", anc="0.6", plt="40")
    mrd(world, d28, sensitivity="1E-3", cells=20_000)
    save(
        user=world.coordinator,
        instance=SubsequentTherapy(
            subject=q,
            therapy_type="hsct",
            start_date=day(40),
            consolidative=True,
            donor="matched_sibling",
            conditioning="TBI/Cy",
        ),
        expected_version=None,
    )
    d90 = marrow(world, q, day(90), blasts="1", anc="1.5", plt="150")
    mrd(world, d90)
    world.alive(q, day(100))

    marrow(world, r, day(28), blasts="40", pb="5")
    save(
        user=world.coordinator,
        instance=IecHsAssessment(subject=r, assessment_date=day(15), present=True, onset_date=day(14), grade=2),
        expected_version=None,
    )
    save(
        user=world.coordinator,
        instance=GvhdStaging(subject=r, assessment_date=day(20), weight_kg=Decimal("70"), skin_bsa_pct=Decimal("30")),
        expected_version=None,
    )
    world.alive(r, day(95))

    crs(world, s, 2, tmax="39.0", device="bipap")
    crs(world, s, 3, tmax="37.0")
    for n, value in ((0, "0.4"), (5, "0.6"), (6, "0.3"), (14, "0.8")):
        anc(world, s, n, value)
    candidate = DltCandidate.objects.get(subject=s, withdrawn=False)
    dlt_services.adjudicate_candidate(
        user=investigator, candidate=candidate, confirm=True, reason="CRS grade 4", expected_version=candidate.version
    )
    world.alive(s, day(100))
    return {"p": p, "q": q, "r": r, "s": s}


@pytest.fixture
def study(transactional_db):
    world = make_world("issue12")
    subjects = small_study(world)
    return world, subjects


def test_toxicity_and_dlt_tables(study):
    world, subjects = study
    found = tables_of(run_at(world))
    c = found["crs_summary"]
    # P G2, Q G3 adjudicated to G2, S G4: 3 of 4
    assert nd(find(c, category="any")) == (3, 4, "75.0", "19.4", "99.4")
    assert [find(c, category="max_grade", detail=f"grade_{g}")["n"] for g in (1, 2, 3, 4, 5)] == [0, 2, 0, 1, 0]
    assert nd(find(c, category="grade_3_or_higher")) == (1, 4, "25.0", "0.6", "80.6")
    onset = find(c, category="onset_day")
    assert (onset["n"], onset["median"], onset["min"], onset["max"], onset["unit"]) == (3, "1.0", "1.0", "2.0", "days")
    duration = find(c, category="duration_days")
    assert (duration["n"], duration["median"], duration["min"], duration["max"]) == (3, "1.0", "1.0", "2.0")
    assert nd(find(c, category="tocilizumab")) == (1, 3, "33.3", "0.8", "90.6")
    assert nd(find(c, category="corticosteroid"))[:2] == (0, 3)

    i = found["icans_summary"]
    assert nd(find(i, category="any"))[:3] == (1, 4, "25.0")
    assert find(i, category="max_grade", detail="grade_1")["n"] == 1
    assert (find(i, category="onset_day")["median"], find(i, category="duration_days")["max"]) == ("5.0", "1.0")
    assert nd(find(i, category="corticosteroid")) == (1, 1, "100.0", "2.5", "100.0")

    h = found["icaht"]
    assert nd(find(h, category="icaht_early_any"))[:2] == (1, 4)
    assert find(h, category="icaht_early_max_grade", detail="grade_3")["n"] == 1
    assert find(h, category="icaht_early_not_assessed")["n"] == 3
    assert (find(h, category="icaht_late_any")["n"], find(h, category="icaht_late_not_assessed")["n"]) == (0, 4)
    assert find(found["iec_hs"], category="max_grade", detail="grade_2")["n"] == 1
    assert find(found["iec_hs"], category="grade_3_or_higher")["n"] == 0
    g = found["gvhd"]
    assert (find(g, category="any")["n"], find(g, category="max_grade", detail="grade_I")["n"]) == (1, 1)

    dl = {row["dose_level"]: row for row in found["dlt_by_dose_level"]}
    assert [
        (row["dose_level"], row["enrolled"], row["infused"], row["evaluable"], row["dlt"], row["decision"])
        for row in dl.values()
    ] == [("DL1", 1, 1, 1, 0, "enrolling"), ("DL2", 3, 3, 3, 1, "expand_to_6"), ("DL3", 0, 0, 0, 0, "enrolling")]
    assert (dl["DL2"]["percent"], dl["DL2"]["ci_lower"], dl["DL2"]["ci_upper"], dl["DL2"]["pending"]) == (
        "33.3",
        "0.8",
        "90.6",
        "no",
    )
    assert found["dlt_candidates"] == [
        {
            "subject": subjects["s"].subject_id,
            "dose_level": "DL2",
            "criterion": "crs",
            "onset_day": 2,
            "status": "confirmed",
            "evaluability": "evaluable",
        }
    ]


def test_response_tables(study):
    world, _subjects = study
    found = tables_of(run_at(world))
    day28 = {row["category"]: nd(row) for row in found["day28_response"]}
    assert list(day28) == [
        "cr_mrd_negative",
        "cr_mrd_positive_or_unknown",
        "cri_mrd_negative",
        "cri_mrd_positive_or_unknown",
        "pr",
        "nr",
        "pd",
        "not_assessed",
    ]
    one, none = (1, 4, "25.0", "0.6", "80.6"), (0, 4, "0.0", "0.0", "60.2")
    assert day28 == {
        "cr_mrd_negative": one,
        "cr_mrd_positive_or_unknown": none,
        "cri_mrd_negative": none,
        "cri_mrd_positive_or_unknown": one,
        "pr": none,
        "nr": one,
        "pd": none,
        "not_assessed": one,
    }
    # Q's CR MRD− on day 90 follows the HSCT of day 40: left out, so the best stays CRi.
    assert {row["category"]: nd(row) for row in found["best_response"]} == day28

    m = found["marrow_response"]
    assert nd(find(m, category="morphological_remission")) == (2, 4, "50.0", "6.8", "93.2")
    assert nd(find(m, category="flow_mrd_negative", detail=""))[:2] == (1, 4)
    assert nd(find(m, category="flow_mrd_negative", detail="of_evaluable")) == (1, 1, "100.0", "2.5", "100.0")
    assert nd(find(m, category="flow_mrd_not_evaluable"))[:2] == (1, 4)
    assert nd(find(m, category="flow_mrd_not_tested"))[:2] == (2, 4)
    assert nd(find(m, category="molecular_remission", detail=""))[:2] == (1, 1)
    assert nd(find(m, category="molecular_remission", detail="no_marker"))[:2] == (3, 4)
    assert nd(find(m, category="orr", detail="day_28")) == (2, 4, "50.0", "6.8", "93.2")
    assert nd(find(m, category="orr", detail="best_1_year"))[:2] == (2, 4)

    rel = found["relapses"]
    assert nd(find(rel, category="relapse")) == (1, 2, "50.0", "1.3", "98.7")
    assert find(rel, category="relapse_site", detail="marrow")["n"] == 1
    assert find(rel, category="relapse_site", detail="cns")["n"] == 0
    assert nd(find(rel, category="relapse_cd7", detail="negative"))[:2] == (1, 1)

    hs = found["hsct"]
    assert nd(find(hs, category="consolidative_hsct", detail=""))[:2] == (1, 4)
    assert nd(find(hs, category="consolidative_hsct", detail="in_responders"))[:2] == (1, 2)
    assert find(hs, category="hsct_donor", detail="matched_sibling")["n"] == 1
    assert find(hs, category="hsct_day")["median"] == "40.0"


def test_time_to_event_tables_and_the_per_subject_derivation(study):
    world, subjects = study
    found = tables_of(run_at(world))
    # OS: P dies day 90; R censored day 95; Q and S day 100 (cut-off day 102)
    assert [(r["time"], r["at_risk"], r["events"], r["censored"], r["survival"]) for r in found["os_km"]] == [
        ("90", 4, 1, 0, "75.0"),
        ("95", 3, 0, 1, "75.0"),
        ("100", 2, 0, 2, "75.0"),
    ]
    # S(90) = 3/4, log(−log) 95% CI 0.1279–0.9605 (lifelines: 0.127947–0.960549), in percent
    assert (found["os_km"][0]["ci_lower"], found["os_km"][0]["ci_upper"]) == ("12.8", "96.1")
    s365 = find(found["os_summary"], statistic="survival_365")
    assert (s365["estimate"], s365["detail"]) == ("", "beyond follow-up")
    # EFS: R (NR) and S (not assessed) have their event at day 0, P relapses day 60: S = 0.5 on
    # the flat step from day 0 to day 60 → median by the midpoint rule = 30.
    assert [(r["time"], r["events"], r["survival"]) for r in found["efs_km"]] == [
        ("0", 2, "50.0"),
        ("60", 1, "25.0"),
        ("100", 0, "25.0"),
    ]
    assert find(found["efs_summary"], statistic="median_days")["estimate"] == "30.0"
    # RFS and DOR from the first CR/CRi (day 28): P relapses 32 days later, Q censored at 72.
    for key in ("rfs_km", "dor_km"):
        assert [(r["time"], r["events"], r["censored"]) for r in found[key]] == [("32", 1, 0), ("72", 0, 1)]
    # DOR: P's relapse leaves S = 0.5 on a flat step from day 32 to Q's censoring at 72 → 52.
    assert find(found["dor_summary"], statistic="median_days")["estimate"] == "52.0"
    # §5.3 sensitivity analysis: Q censored at its HSCT (day 40): DOR 12 days censored, so P's
    # relapse at 32 takes S to 0 and the median is 32; OS and EFS keep their events.
    sens = found["hsct_sensitivity"]
    assert find(sens, endpoint="dor", statistic="median_days")["estimate"] == "32.0"
    assert find(sens, endpoint="dor", statistic="events")["detail"] == "censored at HSCT"
    assert [find(sens, endpoint=e, statistic="events")["estimate"] for e in ("os", "efs", "rfs", "dor")] == [
        "1",
        "3",
        "1",
        "1",
    ]
    assert find(sens, endpoint="relapse_cif", statistic="incidence_365")["detail"] == "beyond follow-up"
    assert [(r["time"], r["relapses"], r["incidence"]) for r in found["relapse_cif"]] == [
        ("60", 1, "25.0"),
        ("95", 0, "25.0"),
        ("100", 0, "25.0"),
    ]

    data, _version, _digest = load_cut(world.study, cutoff=CUTOFF, at=now())
    derived = courses.subject_endpoints(data)
    p = derived[subjects["p"].pk]
    assert (p.day28_category, p.best_category, p.records.os.days, p.records.os.event) == (
        "cr_mrd_negative",
        "cr_mrd_negative",
        90,
        True,
    )
    assert (p.records.efs.days, p.records.dor.days, p.records.competing.cause) == (60, 32, 1)
    q = derived[subjects["q"].pk]
    assert (q.best_category, q.best.excluded_after_new_therapy, q.course.hsct_date) == (
        "cri_mrd_positive_or_unknown",
        (day(90),),
        day(40),
    )


def test_an_earlier_cut_off_leaves_later_data_out(study):
    world, _subjects = study
    found = tables_of(run_at(world, cutoff=day(30)))
    # by day 30: no relapse, no death, no HSCT, and follow-up ends at the last dated record on or
    # before day 30: the day-28 marrows of P, Q and R, S's CRS assessment of day 3 (later
    # contacts are ignored).
    assert find(found["relapses"], category="relapse")["n"] == 0
    assert find(found["hsct"], category="hsct")["n"] == 0
    assert [(r["time"], r["events"], r["censored"]) for r in found["os_km"]] == [("3", 0, 1), ("28", 0, 3)]


def test_each_table_downloads_as_csv_and_xlsx_and_reads_in_chinese(study, login, client):
    world, _subjects = study
    run = run_at(world)
    login(world.statistician)
    csv = client.get(f"/endpoints/{run.pk}/tables/os_km.csv")
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().splitlines()
    assert lines[:3] == [
        '"# os_km: Overall survival: Kaplan-Meier estimate (Greenwood, log(-log) 95% CI) (population: infused)"',
        "time,at_risk,events,censored,survival,ci_lower,ci_upper",
        "90,4,1,0,75.0,12.8,96.1",
    ]
    xlsx = client.get(f"/endpoints/{run.pk}/tables/dlt_by_dose_level.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.title == "dlt_by_dose_level"
    assert [c.value for c in sheet[2]][:3] == ["dose_level", "enrolled", "infused"]
    dl1 = ["DL1", 1, 1, 1, 0, 0, 0, 0, "0.0", "0.0", "97.5", "enrolling", "no", "no"]
    assert [c.value for c in sheet[3]] == dl1
    assert client.get(f"/endpoints/{run.pk}/tables/nothing.csv").status_code == 404
    assert client.get(f"/endpoints/{run.pk}/tables/os_km.pdf").status_code == 404
    document = json.loads(run.results_json)
    keys = [table["key"] for table in document["tables"]]
    page = client.get(f"/endpoints/{run.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for key in keys:
        assert f'href="/endpoints/{run.pk}/tables/{key}.csv"' in page
    world.statistician.language = "zh-hans"
    world.statistician.save(update_fields=["language"])
    client.cookies["django_language"] = "zh-hans"
    page = client.get(f"/endpoints/{run.pk}/").content.decode()
    assert "总生存" in page and "剂量限制性毒性" in page and "细胞因子释放综合征" in page


def test_the_api_serves_the_new_tables(study, client, api_token):
    world, _subjects = study
    run = run_at(world)
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(world.statistician)}"}
    body = client.get(f"/api/v1/endpoint-runs/{run.pk}/results/", **auth).json()
    tables = {table["key"]: table for table in body["tables"]}
    assert tables["os_km"]["columns"] == ["time", "at_risk", "events", "censored", "survival", "ci_lower", "ci_upper"]
    assert tables["os_at_risk"]["columns"] == ["month", "day", "at_risk"]
    assert tables["relapse_cif"]["columns"] == [
        "time",
        "at_risk",
        "relapses",
        "competing",
        "censored",
        "incidence",
        "ci_lower",
        "ci_upper",
    ]
    assert tables["best_response"]["columns"] == [
        "category",
        "detail",
        "n",
        "N",
        "population",
        "percent",
        "ci_lower",
        "ci_upper",
    ]


def test_the_cut_is_loaded_in_a_fixed_number_of_queries(study, django_assert_num_queries):
    """No query per subject (a later benchmark runs 10,000 subjects): the study's sites, its
    subjects, the settings, and one query per input model (bench/endpoint_tables.py); read in
    one transaction with its `work_mem` set (issue 30 item 6: savepoint, SET LOCAL, release)."""
    world, _subjects = study
    with django_assert_num_queries(24 + 3):
        data, _version, _digest = load_cut(world.study, cutoff=CUTOFF, at=now())
    assert (len(data.subjects), len(data.crs_episodes), len(data.dlt_candidates)) == (4, 3, 1)
    assert len(services.BUILDERS) == 5 + 7 + 18  # + at_risk (issue 30)


def test_the_api_serves_each_table_as_json_csv_and_xlsx(study, client, api_token):
    world, _subjects = study
    run = run_at(world)
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(world.statistician)}"}
    base = f"/api/v1/endpoint-runs/{run.pk}/tables"
    table = client.get(f"{base}/relapse_cif_summary/", **auth).json()
    assert (table["key"], table["rows"][1]) == (
        "relapse_cif_summary",
        {"statistic": "relapses", "estimate": "1", "ci_lower": "", "ci_upper": "", "detail": ""},
    )
    csv = client.get(f"{base}/os_km/?file_format=csv", **auth)
    assert csv["Content-Type"].startswith("text/csv")
    assert csv.content.decode().splitlines()[2] == "90,4,1,0,75.0,12.8,96.1"
    xlsx = client.get(f"{base}/gvhd/?file_format=xlsx", **auth)
    assert load_workbook(io.BytesIO(xlsx.content)).active.title == "gvhd"
    assert client.get(f"{base}/nothing/", **auth).status_code == 404
    bad = client.get(f"{base}/os_km/?file_format=pdf", **auth)
    assert bad.status_code == 400 and "file_format" in bad.json()
    coordinator = make_user("coordinator_api_tables", site=world.site, role=Role.COORDINATOR)
    refused = client.get(f"{base}/os_km/", HTTP_AUTHORIZATION=f"Token {api_token(coordinator)}")
    assert refused.status_code == 403
