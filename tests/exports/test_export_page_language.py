"""The Chinese walk of 2026-12-07 (issue 25): the export page names the SDTM datasets in the
reader's language beside their codes ("DM · 人口学资料"; English: the IG's own label, which the
files keep), and the conformance report reads in Chinese — severity by its name, each finding's
sentence, the reason an expected variable is left out and a sponsor-defined variable's label —
while names, codes and values inside a finding stay as the files have them."""

from __future__ import annotations

import pytest
from django.utils import translation

from exports import metadata, services
from exports.models import Export, ExportStatus
from exports.views import SDTM_NAMES, finding_text
from tests.endpoints.conftest import CUTOFF, make_world

pytestmark = [pytest.mark.req("ISSUE-25"), pytest.mark.django_db]

CONFORMANCE = [
    {
        "severity": "warning",
        "check": "FB0609",
        "dataset": "DM",
        "variable": "DTHFL",
        "row": 3,
        "message": (
            "zhex-01-A-003 died without a fatal AE: explained in DD (primary cause DISEASE RELAPSE OR PROGRESSION)"
        ),
    },
    {
        "severity": "note",
        "check": "expected-omitted",
        "dataset": "AE",
        "variable": "AEHLT",
        "row": None,
        "message": "expected variable left out: Not in CTCAE v5.0 (no licensed MedDRA hierarchy).",
    },
    {
        "severity": "note",
        "check": "sponsor-variable",
        "dataset": "ADAE",
        "variable": "ASTDY0",
        "row": None,
        "message": "sponsor-defined variable: Analysis Start Day (Day-0 Clock)",
    },
    {
        "severity": "note",
        "check": "codelist-extension",
        "dataset": "LB",
        "variable": "LBORRESU",
        "row": None,
        "message": "'ratio' (22 rows): documented sponsor term in C71620 Unit (UNIT)",
    },
    {"severity": "note", "check": "x", "dataset": "DM", "variable": "", "row": None, "message": "something new"},
]


@pytest.fixture
def world(db):
    return make_world("zhex")


def _reader(user, language):
    user.language = language
    user.save(update_fields=["language"])
    return user


def test_the_english_names_are_the_igs_labels():
    """English readers see exactly the label the files carry."""
    labels = metadata.sdtm_dataset_labels()
    with translation.override("en"):
        assert {name: str(label) for name, label in SDTM_NAMES.items()} == {name: labels[name] for name in SDTM_NAMES}


def test_the_export_page_names_the_datasets_in_chinese(world, client, login):
    login(_reader(world.statistician, "zh-hans"))
    page = client.get("/exports/").content.decode()
    for shown in (
        "DM · 人口学资料",
        "AE · 不良事件",
        "LB · 实验室检查结果",
        "CM · 合并用药/既往用药",
        "RELREC · 相关记录",
    ):
        assert shown in page, shown
    for english in ("Demographics", "Adverse Events", "Laboratory Test Results", "Related Records"):
        assert english not in page, english


def test_the_export_page_names_the_datasets_in_english(world, client, login):
    login(_reader(world.statistician, "en"))
    page = client.get("/exports/").content.decode()
    assert "DM · Demographics" in page and "AE · Adverse Events" in page and "人口学资料" not in page


def test_the_conformance_report_reads_in_chinese(world, client, login):
    export = services.request_export(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    Export.objects.filter(pk=export.pk).update(status=ExportStatus.SUCCEEDED, progress=100, conformance=CONFORMANCE)
    login(_reader(world.statistician, "zh-hans"))
    page = client.get(f"/exports/{export.pk}/").content.decode()
    for shown in (
        "<td>警告</td>",
        "<td>zhex-01-A-003 死亡但无致死性 AE：已在 DD 中说明（主要原因 DISEASE RELAPSE OR PROGRESSION）</td>",
        "<td>说明</td>",
        "<td>未包含预期变量：CTCAE v5.0 中没有（无 MedDRA 层级授权）。</td>",
        "<td>申办方定义的变量：分析开始日（Day-0 时钟）</td>",
        "<td>&#x27;ratio&#x27;（22 行）：C71620 Unit (UNIT) 中已说明的申办方术语</td>",
        "<td>something new</td>",  # a finding no template knows: as stored
    ):
        assert shown in page, shown
    for english in (
        "died without",
        "expected variable left out",
        "sponsor-defined",
        "<td>note</td>",
        "<td>warning</td>",
    ):
        assert english not in page, english


def test_a_finding_in_english_is_as_stored():
    with translation.override("en"):
        for finding in CONFORMANCE:
            assert finding_text(finding["message"]) == finding["message"]
