"""The blank and the annotated CRF (issue 26 item 2): every form's fields with their labels; the
annotated one labels each field with its SDTM domain.variable from the export metadata and has a
named destination for every def:PDFPageRef define.xml writes (exports.define: Type
NamedDestination, PageRefs = the CRF form)."""

from __future__ import annotations

import io

import pytest
from lxml import etree
from pypdf import PdfReader

from datamanagement import pdf_jobs, tasks
from datamanagement.models import PdfJob, PdfKind
from exports import acrf, define, metadata
from exports import services as export_services
from exports.models import ExportFile, ExportStatus
from tests.exports.conftest import CUTOFF, populate_for_export, world  # noqa: F401

pytestmark = pytest.mark.req("ISSUE-26")

NS = {"def": "http://www.cdisc.org/ns/def/v2.1"}


def flat_text(reader: PdfReader) -> str:
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_every_collected_variable_is_annotated_on_its_page():
    """Pure: the annotations cover exports.define.COLLECTED exactly, and every annotated variable
    is an SDTMIG 3.4 variable of its domain."""
    assert sorted(page.dataset for page in acrf.PAGES) == sorted(define.COLLECTED)
    for page in acrf.PAGES:
        destination, collected = define.COLLECTED[page.dataset]
        assert page.destination == destination
        assert collected <= page.variables(), (page.dataset, collected - page.variables())
        for variable in page.variables():
            assert metadata.variable(metadata.SDTMIG, page.dataset, variable) is not None, (page.dataset, variable)


def build(actor, **kwargs) -> PdfJob:
    job = pdf_jobs.request_pdf(actor=actor, **kwargs)
    assert tasks.build_pdf(job_id=job.pk) == "succeeded", PdfJob.objects.get(pk=job.pk).error
    return PdfJob.objects.get(pk=job.pk)


def test_annotated_crf_has_every_destination_define_xml_references(world):  # noqa: F811
    populate_for_export(world)
    export = export_services.request_export(
        actor=world.statistician, study=world.study, cutoff_date=CUTOFF, formats=["xpt"]
    )
    export = export_services.compute_export(export_id=export.pk)
    assert export.status == ExportStatus.SUCCEEDED, export.error
    document = etree.fromstring(bytes(ExportFile.objects.get(export=export, name="define.xml").content))
    referenced = {ref.get("PageRefs") for ref in document.iterfind(".//def:PDFPageRef", NS)}
    assert {ref.get("Type") for ref in document.iterfind(".//def:PDFPageRef", NS)} == {"NamedDestination"}
    assert {"AdverseEvent", "Demographics", "LabResult", "VitalSigns"} <= referenced

    job = build(world.admin, study=world.study, kind=PdfKind.ANNOTATED_CRF, language="en")
    assert job.file_name == define.ACRF  # the name define.xml's def:leaf points at
    reader = PdfReader(io.BytesIO(bytes(job.content)))
    destinations = set(reader.named_destinations)
    assert referenced <= destinations, referenced - destinations
    assert set(acrf.destinations()) <= destinations
    # each destination opens the page of its form, which carries the form's annotations
    page_of = {name: reader.get_destination_page_number(reader.named_destinations[name]) for name in referenced}
    ae_page = " ".join(reader.pages[page_of["AdverseEvent"]].extract_text().split())
    assert "AE · AdverseEvent" in ae_page and "Verbatim term AE.AETERM" in ae_page
    text = flat_text(reader)
    assert "Age (years) DM.AGE" in text and "Systolic BP (mmHg) VS.VSORRES (VSTESTCD=SYSBP)" in text
    assert len(reader.pages) == job.pages


def test_blank_crf_in_chinese(world):  # noqa: F811
    job = build(world.admin, study=world.study, kind=PdfKind.BLANK_CRF, language="zh-hans")
    reader = PdfReader(io.BytesIO(bytes(job.content)))
    text = flat_text(reader)
    assert job.file_name == f"{world.study.code}-blank-crf-zh.pdf"
    assert "空白病例报告表" in text and "收缩压（mmHg）" in text and "不良事件" in text
    assert "AE.AETERM" not in text  # blank: no annotations
    for number, page in enumerate(reader.pages, start=1):
        assert f"第 {number} 页，共 {len(reader.pages)} 页" in page.extract_text()
