"""The demo study: CD7 CAR-T, NCT05212584 (DESIGN §1, CLINICAL_SPEC §7). Data, not code paths:
`load_demo_study` writes it through the same models an administrator would edit."""

from __future__ import annotations

DEMO_PASSWORD = "TrialSite-Demo-2026!"

STUDY = {
    "code": "cd7-cart-01",
    "title": "CD7 CAR-T cells in relapsed/refractory high-risk T-cell hematologic malignancies (phase I)",
    "title_zh": "CD7 CAR-T 细胞治疗复发/难治高危 T 细胞血液恶性肿瘤的 I 期临床研究",
    "registry_id": "NCT05212584",
    "phase": "I",
    "planned_subjects": 24,
}

SITE = {
    "code": "01",
    "name": "Hebei Yanda Lu Daopei Hospital",
    "name_zh": "河北燕达陆道培医院",
    "time_zone": "Asia/Shanghai",
    "default_language": "zh-hans",
    "subject_prefix": "YD",
}

#: The dose levels of the CLINICAL_SPEC §3.1 defaults, named in both languages (issue 25 item 4).
DOSE_LEVEL_NAMES = [
    ("DL1", "Level 1 (0.5 × 10⁶/kg)", "剂量组 1（0.5 × 10⁶/kg）"),
    ("DL2", "Level 2 (1.0 × 10⁶/kg)", "剂量组 2（1.0 × 10⁶/kg）"),
    ("DL3", "Level 3 (2.0 × 10⁶/kg)", "剂量组 3（2.0 × 10⁶/kg）"),
]

#: username, role, printed name, language ("" = site default)
USERS = [
    ("coordinator", "coordinator", "Li Na 李娜", ""),
    ("investigator", "investigator", "Dr Wang Jun 王军", ""),
    ("monitor", "monitor", "Zhang Wei 张伟", ""),
    ("datamanager", "data_manager", "Chen Jing 陈静", ""),
    ("statistician", "statistician", "Liu Yang 刘洋", "en"),
    ("studyadmin", "study_admin", "Zhao Min 赵敏", ""),
]


def _v(code, name, name_zh, anchor, day, before=0, after=0, marrow=""):  # type: ignore[no-untyped-def]
    return {
        "code": code,
        "name": name,
        "name_zh": name_zh,
        "anchor": anchor,
        "day": day,
        "window_before": before,
        "window_after": after,
        "marrow": marrow,
    }


def schedule() -> list[dict[str, object]]:
    """CLINICAL_SPEC §7: windows ±1 day to day 14, ±3 days to day 28, ±7 days after."""
    visits = [
        _v("SCR", "Screening", "筛选", "enrolment", 0, before=28),
        _v("COL", "Apheresis / donor collection", "单采/供者采集", "event", None),
        _v("BRG", "Bridging therapy", "桥接治疗", "event", None),
        _v("LD", "Lymphodepletion (days −5 to −3)", "清淋预处理（第 −5 至 −3 天）", "infusion", -5, after=2),
        _v("D0", "Infusion (day 0)", "回输（第 0 天）", "infusion", 0),
    ]
    for day in range(1, 15):
        marrow = "optional" if day == 14 else ""
        visits.append(_v(f"D{day}", f"Day {day}", f"第 {day} 天", "infusion", day, 1, 1, marrow))
    visits.append(_v("D21", "Day 21", "第 21 天", "infusion", 21, 3, 3))
    visits.append(_v("D28", "Day 28", "第 28 天", "infusion", 28, 3, 3, "required"))
    for day in (60, 90, 180, 270, 365):
        visits.append(_v(f"D{day}", f"Day {day} follow-up", f"第 {day} 天随访", "infusion", day, 7, 7, "required"))
    return visits


def assessment_matrix() -> dict[str, object]:
    """CLINICAL_SPEC §7.1: the forms each visit expects (by CRF code) and the logs kept apart.
    Day 14's marrow is optional, so not expected."""
    daily = ["VS", "CRS", "ICANS", "LB"]
    visits: dict[str, list[str]] = {
        "SCR": ["IC", "ELIG", "DM", "MH", "DH", "PT", "PS", "VS", "LB", "MA", "MRD"],
        "COL": ["CC"],
        "BRG": ["BR"],
        "LD": ["LD", "VS", "LB"],
        "D0": ["INF", "VS", "CRS", "ICANS"],
    }
    for day in range(1, 15):
        visits[f"D{day}"] = list(daily)
    visits["D21"] = list(daily)
    visits["D28"] = [*daily, "PS", "MA", "MRD"]
    for day in (60, 90, 180, 270, 365):
        visits[f"D{day}"] = ["FU", "LB", "PS", "MA", "MRD"]
    logs = ["AE", "CM", "INFECT", "HOSP", "IECHS", "GVHD", "REL", "ST", "DTH", "DV"]
    return {"visits": visits, "logs": logs}
