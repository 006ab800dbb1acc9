"""Issue 13 items 1–3: the safety dashboard (live widgets, heat strip, swimmer, AE incidence), the
response and survival page (KM with CI band and numbers at risk, response bars, cumulative
incidence of relapse) and the study overview, with their SVG plots.

The run read by the survival page is built here from literal contract tables (CONTRACT:
os_km, os_at_risk, os_summary, relapse_cif, best_response, day28_response): the engine that
computes them (issue 12) is on another branch. Its numbers are a hand-worked Kaplan–Meier of
ten subjects: deaths on days 30, 60 (one censored there too) and 200 (two).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from adverse_events.models import CrsAssessment, Notification, SaeReport, SafetyAlert
from adverse_events.services.alerts import deliver_alert, mark_sae_reported
from crf.queries import raise_query
from crf.services import save
from endpoints import plots
from endpoints.dashboards import SubjectCourse
from endpoints.models import EndpointRun, RunStatus
from endpoints.tables import canonical_json
from study.roles import Role
from subjects.models import Subject
from tests.conftest import PASSWORD, make_user
from tests.endpoints.conftest import CUTOFF, day, make_world, populate

pytestmark = pytest.mark.req("ISSUE-13")

# fmt: off
KM_COLUMNS = ["time", "at_risk", "events", "censored", "survival", "ci_lower", "ci_upper"]
KM_ROWS = [
    dict(zip(KM_COLUMNS, row, strict=True))
    for row in [
        ("30", 10, 1, 0, "90.0", "55.5", "98.5"),
        ("60", 9, 1, 1, "80.0", "41.9", "94.6"),
        ("200", 7, 2, 0, "57.1", "21.2", "81.5"),
        ("300", 5, 0, 5, "57.1", "", ""),
    ]
]
# fmt: on
AT_RISK_ROWS = [
    {"month": month, "day": day_, "at_risk": n}
    for month, day_, n in [
        (0, "0", 10),
        (1, "30", 9),
        (2, "61", 8),
        (3, "91", 7),
        (6, "183", 7),
        (9, "274", 5),
        (12, "365", 0),
    ]
]


def _proportion(category: str, n: int, total: int, percent: str, lower: str, upper: str) -> dict[str, object]:
    return {
        "category": category,
        "detail": "",
        "n": n,
        "N": total,
        "population": "infused",
        "percent": percent,
        "ci_lower": lower,
        "ci_upper": upper,
    }


CONTRACT_TABLES = [
    {
        "key": "os_km",
        "title": "Overall survival",
        "population": "infused",
        "columns": ["time", "at_risk", "events", "censored", "survival", "ci_lower", "ci_upper"],
        "rows": KM_ROWS,
        "probability_unit": "percent",
    },
    {
        "key": "os_at_risk",
        "title": "Numbers at risk",
        "population": "infused",
        "columns": ["month", "day", "at_risk"],
        "rows": AT_RISK_ROWS,
    },
    {
        "key": "os_summary",
        "title": "Overall survival summary",
        "population": "infused",
        "columns": ["statistic", "estimate", "ci_lower", "ci_upper", "detail"],
        "rows": [
            {"statistic": "survival_365", "estimate": "57.1", "ci_lower": "21.2", "ci_upper": "81.5",
             "detail": ""},
            {"statistic": "median_days", "estimate": "", "ci_lower": "200", "ci_upper": "", "detail": "not reached"},
        ],
        "probability_unit": "percent",
    },
    {
        "key": "relapse_cif",
        "title": "Relapse",
        "population": "infused",
        "columns": ["time", "at_risk", "relapses", "competing", "censored", "incidence", "ci_lower", "ci_upper"],
        "rows": [
            {"time": "45", "at_risk": 10, "relapses": 1, "competing": 0, "censored": 0, "incidence": "10.0",
             "ci_lower": "0.6", "ci_upper": "36.4"},
            {"time": "120", "at_risk": 8, "relapses": 2, "competing": 1, "censored": 0, "incidence": "32.5",
             "ci_lower": "8.0", "ci_upper": "60.0"},
        ],
        "probability_unit": "percent",
    },
    {
        "key": "best_response",
        "title": "Best response",
        "population": "infused",
        "columns": ["category", "detail", "n", "N", "population", "percent", "ci_lower", "ci_upper"],
        "rows": [
            _proportion("cr_mrd_negative", 6, 10, "60.0", "26.2", "87.8"),
            _proportion("cr_mrd_positive_or_unknown", 1, 10, "10.0", "0.3", "44.5"),
            _proportion("nr", 3, 10, "30.0", "6.7", "65.2"),
        ],
    },
    {
        "key": "day28_response",
        "title": "Day-28 response",
        "population": "infused",
        "columns": ["category", "detail", "n", "N", "population", "percent", "ci_lower", "ci_upper"],
        "rows": [
            _proportion("cr_mrd_negative", 5, 10, "50.0", "18.7", "81.3"),
            _proportion("nr", 5, 10, "50.0", "18.7", "81.3"),
        ],
    },
    {
        "key": "teae_by_term",
        "title": "TEAE by term",
        "population": "infused",
        "columns": ["soc", "term", "n", "N", "population", "percent", "grade_1", "grade_2", "grade_3", "grade_4",
                    "grade_5", "grade_3_or_higher"],
        "rows": [
            {"soc": "Immune system disorders", "term": "", "n": 7, "N": 10, "population": "infused",
             "percent": "70.0", "grade_1": 3, "grade_2": 2, "grade_3": 1, "grade_4": 1, "grade_5": 0,
             "grade_3_or_higher": 2},
            {"soc": "Immune system disorders", "term": "Cytokine release syndrome", "n": 7, "N": 10,
             "population": "infused", "percent": "70.0", "grade_1": 3, "grade_2": 2, "grade_3": 1, "grade_4": 1,
             "grade_5": 0, "grade_3_or_higher": 2},
        ],
    },
]  # fmt: skip


def make_run(study, *, cutoff: date = CUTOFF, tables=CONTRACT_TABLES) -> EndpointRun:
    document = canonical_json(
        {
            "cut": {"cutoff_date": cutoff.isoformat(), "snapshot_at": "2026-07-01T00:00:00+00:00"},
            "tables": tables,
        }
    )
    now = timezone.now()
    return EndpointRun.objects.create(
        study=study,
        requested_at=now,
        trigger="page",
        cutoff_date=cutoff,
        snapshot_at=now,
        status=RunStatus.SUCCEEDED,
        progress=100,
        finished_at=now,
        results_json=document,
        results_sha256=hashlib.sha256(document.encode()).hexdigest(),
    )


@pytest.fixture
def world(db):
    w = make_world("NCT-DASH")
    w.investigator = make_user("investigator_dash", site=w.site, role=Role.INVESTIGATOR)
    w.monitor = make_user("monitor_dash", site=w.site, role=Role.MONITOR)
    w.data_manager = make_user("dm_dash", site=w.site, role=Role.DATA_MANAGER)
    return w


def record_crs(world, subject, on: date, tmax: str, oxygen: str = "room_air", **values) -> CrsAssessment:
    if oxygen != "room_air":  # answered, as the form requires with a finding (issue 24)
        values.setdefault("hypoxia_attributable_to_crs", True)
    if values.get("hypotension") or values.get("vasopressors"):
        values.setdefault("hypotension_attributable_to_crs", True)
    instance = CrsAssessment(subject=subject, assessment_date=on, tmax_c=Decimal(tmax), oxygen_device=oxygen, **values)
    return save(user=world.coordinator, instance=instance, expected_version=None)


def _as(client, user, language: str = "en"):
    """Sign in through the real sign-in page (the session carries its login stamp) in `language`."""
    user.language = language
    user.save(update_fields=["language"])
    client.cookies["django_language"] = language
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _widget(html: str, name: str) -> str:
    start = html.index(f'data-widget="{name}"')
    return html[start : html.index("</section>", start)]


# --- live widgets change without a new run -----------------------------------------------------


def test_sae_widget_shows_an_sae_recorded_through_the_service_and_drops_it_once_reported(world, client):
    subjects = populate(world)  # two SAEs: febrile neutropenia of A, sepsis of B
    _as(client, world.investigator)
    widget = _widget(client.get("/safety/dashboard/").content.decode(), "saes")
    assert '<span class="widget-count" data-count>2</span>' in widget
    assert "Febrile neutropenia · grade 3" in widget and "Sepsis · grade 4" in widget
    assert "left to report" in widget
    for alert in SafetyAlert.objects.all():
        deliver_alert(alert_id=alert.pk)  # what the worker does: the in-app notifications
    page = client.get("/safety/dashboard/").content.decode()  # the header: its badge and safety links, one query
    unread = Notification.objects.filter(user=world.investigator, read_at__isnull=True).count()
    assert unread >= 2 and f"data-unread>{unread}</span>" in page
    assert '<a href="/safety/dashboard/">Safety dashboard</a>' in page

    ae = world.ae(subjects["a"], ctcae_term="Pneumonitis", grade=3, onset_date=day(25), serious_hospitalisation=True)
    widget = _widget(client.get("/safety/dashboard/").content.decode(), "saes")
    assert '<span class="widget-count" data-count>3</span>' in widget
    assert f'data-sae="{ae.pk}"' in widget and "Pneumonitis · grade 3" in widget
    assert EndpointRun.objects.count() == 0  # no run was needed

    report = SaeReport.objects.get(adverse_event=ae)
    mark_sae_reported(user=world.investigator, report=report, expected_version=report.version)
    widget = _widget(client.get("/safety/dashboard/").content.decode(), "saes")
    assert '<span class="widget-count" data-count>2</span>' in widget
    assert f'data-sae="{ae.pk}"' not in widget


def test_sae_clock_counts_down_then_shows_overdue(world, client):
    subjects = populate(world)
    ae = world.ae(subjects["a"], ctcae_term="Pneumonitis", grade=3, onset_date=day(25), serious_hospitalisation=True)
    SaeReport.objects.filter(adverse_event=ae).update(aware_at=timezone.now() - timedelta(hours=25, minutes=30))
    _as(client, world.investigator)
    widget = _widget(client.get("/safety/dashboard/").content.decode(), "saes")
    row = widget[widget.index(f'data-sae="{ae.pk}"') :]
    assert "Overdue by 1 h 30 min" in row[: row.index("</tr>")] or "Overdue by 1 h 29 min" in row[: row.index("</tr>")]


def test_open_query_widget_counts_a_query_raised_after_the_page_was_read(world, client):
    subjects = populate(world)
    _as(client, world.data_manager)
    widget = _widget(client.get("/safety/dashboard/").content.decode(), "queries")
    assert re.search(r"status=open&amp;site=01\">0</a>", widget)
    crs = save(
        user=world.coordinator,
        instance=CrsAssessment(
            subject=subjects["a"], assessment_date=day(1), tmax_c=Decimal("38.5"), oxygen_device="room_air"
        ),
        expected_version=None,
    )
    raise_query(user=world.data_manager, form=crs, field_name="tmax_c", text="Source says 38.9?")
    widget = _widget(client.get("/safety/dashboard/").content.decode(), "queries")
    assert re.search(r"status=open&amp;site=01\">1</a>", widget)


def test_dlt_widget_is_the_live_dose_level_monitor(world, client):
    populate(world)  # two infused on DL2; B died of infection on day 20 (a DLT candidate)
    _as(client, world.investigator)
    widget = _widget(client.get("/safety/dashboard/").content.decode(), "dlt")
    row = widget[widget.index('data-level="DL2"') :]
    row = row[: row.index("</tr>")]
    assert "<td data-awaiting>1</td>" in row
    assert "pending" in row


# --- heat strip and swimmer: one page of subjects, live ------------------------------------------


def test_heat_strip_shows_the_worst_crs_grade_of_each_day(world, client):
    subjects = populate(world)
    a = subjects["a"]
    for on, tmax, oxygen in ((day(1), "38.6", "room_air"), (day(2), "39.1", "nasal_cannula")):
        values = {"oxygen_flow_l_min": Decimal("2")} if oxygen != "room_air" else {}
        record_crs(world, a, on, tmax, oxygen, **values)
    _as(client, world.investigator)
    html = client.get("/safety/dashboard/").content.decode()
    strip = html[html.index(f'data-subject="{a.subject_id}" data-kind="crs"') :]
    cells = re.findall(r'<td class="(g[^"]*)">([^<]*)</td>', strip[: strip.index("</tr>")])
    assert len(cells) == 31  # study days 0–30
    assert cells[0] == ("g-none", "·") and cells[1] == ("g1", "1") and cells[2] == ("g2", "2")
    assert "1–2 (G2)" in html  # the CRS episode beside the swimmer plot
    # §8 course: back to grade 0 on day 3 → one episode, onset day 1, duration 2: it still ends
    # on day 2 (its last day at grade ≥ 1), not on the day it resolved
    record_crs(world, a, day(3), "36.9", "room_air")
    html = client.get("/safety/dashboard/").content.decode()
    assert "1–2 (G2)" in html and "1–3 (G2)" not in html


def test_swimmer_svg_has_a_lane_per_subject_and_its_title(world, client):
    subjects = populate(world)
    _as(client, world.investigator)
    response = client.get("/safety/dashboard/swimmer.svg")
    assert response.status_code == 200 and response["Content-Type"].startswith("image/svg+xml")
    svg = response.content.decode()
    assert '<title id="plot-title">Swimmer plot from CAR-T infusion</title>' in svg
    assert subjects["a"].subject_id in svg and subjects["b"].subject_id in svg
    assert "Death" in svg and "Alive at last contact" in svg  # the legend names what B and A show


def test_subject_pages_hold_50_and_cost_the_same_queries_for_50_or_5_subjects(world, client):
    for n in range(55):
        Subject.objects.create(
            site=world.site, subject_id=f"A-{n:03d}", status="infused", enrolled_on=date(2026, 3, 1),
            dose_level="DL2", infusion_date=date(2026, 3, 20),
        )  # fmt: skip
    _as(client, world.investigator)

    def cost(page: int) -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/safety/dashboard/?page={page}")
        assert response.status_code == 200
        return len(captured), response.content.decode()

    cost(1)  # the first request records each dose level's decision (DoseLevelDecision rows)
    few, second = cost(2)
    full, first = cost(1)
    assert first.count('data-kind="crs"') == 50 and second.count('data-kind="crs"') == 5
    assert "Page 1 of 2 (55 infused subjects)" in first
    assert full == few
    assert full <= 55  # session, gate, 4 live widgets, 10 per-subject reads, 3 per dose level


def test_dashboard_queries_do_not_grow_with_subjects_events_or_dose_levels(world, client):
    subjects = populate(world)
    _as(client, world.investigator)
    client.get("/safety/dashboard/")  # first request warms the content-type cache

    def cost() -> int:
        cache.clear()  # the DLT monitor is cached until its inputs change: count a computed one
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/safety/dashboard/").status_code == 200
        return len(captured)

    before = cost()
    world.infused("DL1")
    world.ae(subjects["a"], ctcae_term="Pneumonitis", grade=3, onset_date=day(25), serious_hospitalisation=True)
    save(
        user=world.coordinator,
        instance=CrsAssessment(
            subject=subjects["a"], assessment_date=day(1), tmax_c=Decimal("38.6"), oxygen_device="room_air"
        ),
        expected_version=None,
    )
    assert cost() == before


# --- the AE incidence table comes from the latest successful run -------------------------------


def test_ae_incidence_table_is_the_latest_successful_runs_with_grade_colours(world, client):
    _as(client, world.investigator)
    html = client.get("/safety/dashboard/").content.decode()
    assert "No successful endpoint run yet" in html
    run = make_run(world.study)
    EndpointRun.objects.create(
        study=world.study, requested_at=timezone.now(), trigger="page", cutoff_date=CUTOFF, status=RunStatus.FAILED
    )
    html = client.get("/safety/dashboard/").content.decode()
    assert f"from endpoint run {run.pk} (clinical cut-off 2026-06-30)" in html
    assert '<th scope="row" colspan="2">Immune system disorders</th>' in html
    assert '<td class="num g3">1</td>' in html and '<td class="num g4">1</td>' in html
    assert '<td class="num ">0</td>' in html  # no colour where no subject
    assert "<td>Cytokine release syndrome</td>" in html


def test_ae_incidence_table_names_soc_and_term_in_chinese_for_a_chinese_reader(world, client):
    """The stored term stays the English CTCAE term; a Chinese reader sees the project's Chinese
    name beside it and the system organ class in Chinese (clinical.ctcae_zh; issue 25)."""
    make_run(world.study)
    _as(client, world.investigator, "zh-hans")
    html = client.get("/safety/dashboard/").content.decode()
    assert '<th scope="row" colspan="2">免疫系统疾病</th>' in html
    assert "<td>Cytokine release syndrome 细胞因子释放综合征</td>" in html


# --- KM plot: the SVG's step vertices are the run's estimates -----------------------------------


def _path_points(svg: str, gid: str) -> list[tuple[float, float]]:
    group = svg[svg.index(f'<g id="{gid}">') :]
    d = re.search(r'<path d="([^"]+)"', group).group(1)
    return [(float(x), float(y)) for x, y in re.findall(r"[ML] ([-\d.]+) ([-\d.]+)", d)]


def _axes_box(svg: str, gid: str) -> tuple[float, float, float, float]:
    points = _path_points(svg, gid)
    xs = [x for x, _y in points]
    ys = [y for _x, y in points]
    return min(xs), max(xs), min(ys), max(ys)


def test_km_svg_steps_are_the_runs_estimates(world, client):
    run = make_run(world.study)
    _as(client, world.statistician)
    response = client.get(f"/endpoints/{run.pk}/plots/os-km.svg")
    assert response.status_code == 200
    svg = response.content.decode()
    left, right, top, bottom = _axes_box(svg, "km-axes")
    x_max = 365  # the last month of the numbers at risk (12 × 30.4375, rounded)

    def data(point: tuple[float, float]) -> tuple[float, float]:
        x, y = point
        return round((x - left) / (right - left) * x_max, 2), round((bottom - y) / (bottom - top), 4)

    assert [data(p) for p in _path_points(svg, "km")] == [
        (0, 1.0),
        (30, 1.0),
        (30, 0.9),
        (60, 0.9),
        (60, 0.8),
        (200, 0.8),
        (200, 0.571),
        (300, 0.571),
        (300, 0.571),
        (365, 0.571),
    ]
    assert '<title id="plot-title">Overall survival (Kaplan–Meier)</title>' in svg
    for month_day, count in (("30", "9"), ("183", "7"), ("365", "0")):
        assert f"{month_day}</text>" in svg or month_day in svg
        assert f">{count}</text>" in svg  # numbers at risk under the axis


def test_km_svg_of_a_run_stored_before_percent_reads_proportions(world, client):
    """Runs stored before issue 30 hold survival as proportions ("0.5714", no probability_unit):
    their curve is drawn at the same height as a run's percent ("57.1")."""
    older = [
        {
            **table,
            "rows": [{**row, "survival": "0.5714"} for row in KM_ROWS[2:3]],
            "probability_unit": None,
        }
        if table["key"] == "os_km"
        else table
        for table in CONTRACT_TABLES
    ]
    run = make_run(world.study, tables=[{k: v for k, v in t.items() if v is not None} for t in older])
    _as(client, world.statistician)
    svg = client.get(f"/endpoints/{run.pk}/plots/os-km.svg").content.decode()
    _left, _right, top, bottom = _axes_box(svg, "km-axes")
    heights = [round((bottom - y) / (bottom - top), 4) for _x, y in _path_points(svg, "km")]
    assert heights == [1.0, 1.0, 0.5714, 0.5714]


def test_two_renders_of_the_same_run_are_byte_identical(world, client):
    run = make_run(world.study)
    _as(client, world.statistician)
    for name in ("os-km", "relapse-cif", "response"):
        cache.clear()
        first = client.get(f"/endpoints/{run.pk}/plots/{name}.svg").content
        cache.clear()
        second = client.get(f"/endpoints/{run.pk}/plots/{name}.svg").content
        assert first == second and len(first) > 1000
        assert b"<dc:date>" not in first  # no timestamp; ids come from the fixed hash salt


def test_svg_text_uses_the_installed_cjk_font():
    assert plots.font_families()[0] == "Noto Sans CJK SC"  # Debian fonts-noto-cjk (.ci/run)
    svg = plots.cumulative_lines(
        series=[("入组", [(date(2026, 1, 5), 1)])], title="入组", description="d", y_label="受试者", x_label="日期"
    )
    assert "Noto Sans CJK SC" in svg and ">受试者</text>" in svg


def test_cumulative_lines_of_no_data_draw_no_empty_legend(recwarn):
    """A site with no subjects yet: the enrolment plot is drawn with its axes, no legend of no line
    (matplotlib warned "No artists with labels found to put in legend")."""
    empty = plots.cumulative_lines(series=[("Enrolled", [])], title="t", description="d", y_label="y", x_label="x")
    drawn = plots.cumulative_lines(
        series=[("Enrolled", [(date(2026, 1, 5), 1)])], title="t", description="d", y_label="y", x_label="x"
    )
    assert [str(w.message) for w in recwarn if "legend" in str(w.message)] == []
    assert "legend_1" not in empty and "legend_1" in drawn
    # no date axis of matplotlib's placeholder numbers (0.0 … 1.0) under no line
    assert "xtick_1" not in empty and "xtick_1" in drawn


# --- pages in English and Chinese ---------------------------------------------------------------


def test_efficacy_page_in_english(world, client):
    run = make_run(world.study)
    _as(client, world.investigator)
    html = client.get("/endpoints/efficacy/").content.decode()
    assert f"From endpoint run {run.pk}: clinical cut-off 2026-06-30" in html
    assert f'src="/endpoints/{run.pk}/plots/os-km.svg"' in html
    assert 'alt="Kaplan–Meier curve of overall survival' in html
    survival = re.sub(r"\s+", " ", html.split("data-survival-365>", 1)[1].split("</dd>", 1)[0]).strip()
    assert survival == "57.1% (95% CI 21.2–81.5%)"  # percent with its CI in percent (issue 30)
    assert "not reached" in html
    assert "6/10 (60.0%; 95% CI 26.2–87.8%)" in html and "5/10 (50.0%; 95% CI 18.7–81.3%)" in html
    assert "CR, MRD-negative" in html
    assert "<td>32.5%</td>" in html  # relapse incidence by day 120
    assert "8.0–60.0%" in html


def test_efficacy_page_in_chinese(world, client):
    run = make_run(world.study)
    _as(client, world.investigator, "zh-hans")
    html = client.get("/endpoints/efficacy/").content.decode()
    assert "缓解与生存" in html and "总生存（Kaplan–Meier）" in html
    assert "复发累积发生率" in html and "未达到" in html
    svg = client.get(f"/endpoints/{run.pk}/plots/os-km.svg").content.decode()
    assert "生存概率" in svg and "风险人数" in svg
    bars = client.get(f"/endpoints/{run.pk}/plots/response.svg").content.decode()
    assert "CR，MRD 阴性" in bars


def test_safety_dashboard_in_chinese(world, client):
    populate(world)
    _as(client, world.investigator, "zh-hans")
    html = client.get("/safety/dashboard/").content.decode()
    assert "安全性仪表板" in html and "等待上报申办方的 SAE" in html and "按剂量水平的 DLT 状态" in html
    svg = client.get("/safety/dashboard/swimmer.svg").content.decode()
    assert "自 CAR-T 回输起的天数" in svg


def test_overview_by_site_in_english_and_chinese(world, client):
    populate(world)
    _as(client, world.data_manager)
    html = client.get("/overview/").content.decode()
    assert "Enrolment over time" in html
    row = html[html.index('data-site="01"') :]
    row = row[: row.index("</tr>")]
    assert "<td>3</td>" in row and "<td>2</td>" in row  # enrolled A, B and the not-infused one; infused A, B
    svg = client.get("/overview/enrolment.svg").content.decode()
    assert "Subjects (cumulative)" in svg
    _as(client, world.data_manager, "zh-hans")
    assert "入组随时间变化" in client.get("/overview/").content.decode()


# --- who may see what (DESIGN §4a) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "safety", "efficacy"),
    [
        (Role.COORDINATOR, 200, 403),
        (Role.INVESTIGATOR, 200, 200),
        (Role.MONITOR, 200, 403),
        (Role.DATA_MANAGER, 200, 200),
        (Role.STATISTICIAN, 200, 200),
        (Role.STUDY_ADMIN, 403, 200),
    ],
)
def test_pages_follow_the_permission_table(world, client, role, safety, efficacy):
    run = make_run(world.study)
    user = make_user(f"who_{role}", site=world.site, role=role)
    _as(client, user)
    assert client.get("/safety/dashboard/").status_code == safety
    assert client.get("/safety/dashboard/swimmer.svg").status_code == safety
    assert client.get("/endpoints/efficacy/").status_code == efficacy
    assert client.get(f"/endpoints/{run.pk}/plots/os-km.svg").status_code == efficacy
    assert client.get("/overview/").status_code == 200
    home = client.get("/").content.decode()
    assert ('href="/safety/dashboard/"' in home) is (safety == 200)


def test_another_studys_user_sees_nothing_of_this_one(world, client, other_coordinator):
    run = make_run(world.study)
    _as(client, other_coordinator)
    assert client.get(f"/endpoints/{run.pk}/plots/os-km.svg").status_code == 404
    html = client.get("/overview/").content.decode()
    assert "NCT-DASH" not in html


def test_swimmer_events_in_day_order_with_relapse_once_per_day():
    course = SubjectCourse(
        subject=Subject(subject_id="A-007"),
        responses=[(28, "CRi"), (120, "relapse")],
        relapses=[120],
        hsct=[62],
        last_contact_day=150,
        crs={2: 1},
    )
    assert course.events == [(28, "CRi"), (62, "HSCT"), (120, "Relapse")]
    assert course.end_day == 150 and course.label == "A-007"
    assert course.crs_strip[:4] == [None, None, 1, None] and len(course.crs_strip) == 31
    course.death_day = 130
    assert course.end_day == 130


@pytest.mark.parametrize(("language", "named"), [("en", "D1 · Day 1"), ("zh-hans", "D1 · 第 1 天")])
def test_overdue_visits_are_named_in_the_readers_language(world, client, language, named):
    """The overdue-forms widget names each visit by its code and its name in the reader's
    language, as the worklist does (it showed the code alone: "D1")."""
    populate(world)  # infused on 2026-03-20: day 1's forms are long overdue
    _as(client, world.investigator, language)
    widget = _widget(client.get("/safety/dashboard/").content.decode(), "overdue")
    assert f"<td>{named}</td>" in widget


@pytest.mark.parametrize("now", ["2026-03-27T03:00:00+00:00", "2026-11-26T03:00:00+00:00"])
def test_open_visits_in_sql_are_the_worklists_due_and_overdue_visits(world, now):
    """The dashboards count visits in SQL (subjects.selectors.open_visits); the subjects
    worklist (due_and_overdue, tested with the visit windows) is the reference."""
    from django.utils.dateparse import parse_datetime

    from subjects.selectors import due_and_overdue, open_visits

    populate(world)
    world.infused("DL1")
    at = parse_datetime(now)
    expected = {(item.visit.pk, item.state.value) for item in due_and_overdue(world.coordinator, now=at)}
    found = set(open_visits(world.coordinator, now=at).values_list("pk", "open_state"))
    assert found == expected
    assert {state for _pk, state in found} >= {"overdue"}


def test_run_page_shows_the_first_rows_of_a_long_table_and_points_to_its_files(world, client, monkeypatch):
    """At 10,000 subjects a survival curve has thousands of rows (the run page was 2 MB): the page
    shows the first rows of each table; CSV and XLSX hold them all."""
    from endpoints import views

    monkeypatch.setattr(views, "PAGE_TABLE_ROWS", 2)
    run = make_run(world.study)
    _as(client, world.investigator)
    page = client.get(f"/endpoints/{run.pk}/").content.decode()
    km = page[page.index('id="table-os_km"') : page.index('id="table-os_at_risk"')]
    assert km.count("<tr>") == 3  # the header and two rows
    assert "2 more rows are in the table's CSV and XLSX files." in km  # 4 rows in all
    csv_lines = client.get(f"/endpoints/{run.pk}/tables/os_km.csv").content.decode().splitlines()
    assert [line.split(",")[0] for line in csv_lines if line][-4:] == [
        "30",
        "60",
        "200",
        "300",
    ]  # every row in the file


def test_dlt_monitor_pages_adjudicated_candidates_and_viewing_writes_nothing(world, client, monkeypatch):
    from adverse_events import dlt_views
    from adverse_events.models import DltCandidate

    subjects = populate(world)  # B's death of infection on day 20 is a candidate awaiting adjudication
    monkeypatch.setattr(dlt_views, "ADJUDICATED_PER_PAGE", 1)
    for n, status in enumerate(("confirmed", "rejected")):
        DltCandidate.objects.create(
            subject=subjects["a"], key=f"test:{n}", criterion="other_ae", onset_day=3 + n, description=f"finding {n}",
            status=status, adjudicated_by=world.investigator, adjudicated_at=timezone.now() + timedelta(minutes=n),
            adjudication_reason=f"reason {n}",
        )  # fmt: skip
    _as(client, world.investigator)
    before = DltCandidate.objects.count()
    first = client.get("/safety/dlt/").content.decode()
    assert "finding 1" in first and "finding 0" not in first  # newest first
    assert "Page 1 of 2 (2 adjudicated, newest first)" in first
    second = client.get("/safety/dlt/?page=2").content.decode()
    assert "finding 0" in second and "finding 1" not in second
    assert DltCandidate.objects.count() == before
    # those awaiting page too, by subject (A's own then B's death)
    for n in range(2):
        DltCandidate.objects.create(
            subject=subjects["a"], key=f"wait:{n}", criterion="other_ae", onset_day=8 + n, description=f"open {n}",
        )  # fmt: skip
    waiting = client.get("/safety/dlt/").content.decode()
    assert "Page 1 of 3 (3 awaiting)" in waiting
    assert "open 0" in waiting and "open 1" not in waiting


# --- issue 24 item 5: no link its reader cannot follow; episodes from the heat strip ------------


@pytest.mark.req("ISSUE-24")
def test_endpoint_run_link_only_for_roles_that_may_view_runs(world, client):
    """DESIGN §4a: run results are for investigators, data managers, statisticians and study
    admins; coordinators and monitors see the dashboard's incidence table without the link."""
    run = make_run(world.study)
    link = f'href="/endpoints/{run.pk}/"'
    for user, shown in ((world.investigator, True), (world.coordinator, False), (world.monitor, False)):
        client.logout()
        html = _as(client, user).get("/safety/dashboard/").content.decode()
        assert f"from endpoint run {run.pk}" in html
        assert (link in html) is shown, user.username
        if shown:
            assert client.get(f"/endpoints/{run.pk}/").status_code == 200
    client.logout()
    assert _as(client, world.coordinator).get(f"/endpoints/{run.pk}/").status_code == 403


@pytest.mark.req("ISSUE-24")
def test_heat_strip_subjects_link_their_episodes(world, client):
    subjects = populate(world)
    a = subjects["a"]
    record_crs(world, a, day(1), "38.6")
    html = _as(client, world.investigator).get("/safety/dashboard/").content.decode()
    assert f'href="/safety/subjects/{a.pk}/episodes/"' in html
    assert client.get(f"/safety/subjects/{a.pk}/episodes/").status_code == 200
