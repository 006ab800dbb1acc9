"""PDF casebooks in real Chromium, in English and Chinese (issue 26 item 2): an investigator asks
for a subject's casebook from the casebook page, the document's page shows its progress, then its
file with SHA-256 once built; the data-management page lists the documents. Screenshots:
artifacts/screenshots/pdf-{detail,list}-{en,zh}.png, and the PDFs themselves rendered to PNG
(pypdfium2): casebook-pdf-zh.png (a form page of the Chinese casebook), acrf-pdf-en.png (the
annotated CRF's adverse-event page); copies in docs/screenshots/."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from datamanagement import pdf_jobs, tasks
from datamanagement.models import PdfJob, PdfKind
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.crf import conftest as crf_fixtures

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-26")]

# the CRF core's fixtures: a saved vital-signs form of subject A-001, and saving it again
crf_ready, save_vs, vs = crf_fixtures.crf_ready, crf_fixtures.save_vs, crf_fixtures.vs


def render_page(content: bytes, index: int, name: str) -> None:
    """One page of a PDF as a PNG at 110 dpi (pypdfium2), to look at what was generated."""
    import pypdfium2

    document = pypdfium2.PdfDocument(content)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    document[index].render(scale=110 / 72).to_pil().save(SCREENSHOTS / f"{name}.png")
    document.close()


@pytest.mark.req("DESIGN-1")
@pytest.mark.parametrize(
    ("language", "locale", "labels", "button", "succeeded"),
    [
        ("en", "en-US", ("Username", "Password", "Sign in"), "Generate the PDF casebook", "Succeeded"),
        ("zh-hans", "zh-CN", ("用户名", "密码", "登录"), "生成 PDF 病例记录", "已完成"),
    ],
)
def test_investigator_generates_and_downloads_a_casebook(
    browser,
    live_server,
    transactional_db,
    vs,
    save_vs,
    users_a,
    screenshot,
    language,
    locale,
    labels,
    button,
    succeeded,
):
    save_vs(vs, systolic_bp=135, reason="transcription error")
    investigator = users_a["investigator"]
    investigator.language = language
    investigator.save(update_fields=["language"])
    context = browser.new_context(
        locale=locale, extra_http_headers={"Accept-Language": locale}, viewport={"width": 1440, "height": 900}
    )
    page = context.new_page()
    _sign_in(page, live_server.url, investigator.username, *labels)
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/subjects/{vs.subject_id}/casebook/")
    short = "en" if language == "en" else "zh"
    screenshot(page, f"casebook-pdf-panel-{short}")
    page.get_by_label("Language of the PDF" if language == "en" else "PDF 语言").select_option(language)
    page.get_by_role("button", name=button).click()
    job = PdfJob.objects.get()
    page.wait_for_url(f"{live_server.url}/data/pdfs/{job.pk}/")
    tasks.build_pdf(job_id=job.pk)  # what the worker does with the outbox message
    page.reload()
    job.refresh_from_db()
    content = page.content()
    assert succeeded in content and job.sha256 in content and job.file_name in content
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    screenshot(page, f"pdf-detail-{short}")
    with page.expect_download() as download:
        page.get_by_role("link", name=job.file_name).first.click()
    assert download.value.suggested_filename == job.file_name
    page.goto(f"{live_server.url}/data/pdfs/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    screenshot(page, f"pdf-list-{short}")
    if language == "zh-hans":
        content = bytes(job.content)
        assert len(PdfReader(io.BytesIO(content)).pages) == job.pages
        render_page(content, 1, "casebook-pdf-zh")
        acrf = pdf_jobs.request_pdf(
            actor=investigator, study=vs.subject.site.study, kind=PdfKind.ANNOTATED_CRF, language="en"
        )
        tasks.build_pdf(job_id=acrf.pk)
        acrf.refresh_from_db()
        reader = PdfReader(io.BytesIO(bytes(acrf.content)))
        ae = reader.get_destination_page_number(reader.named_destinations["AdverseEvent"])
        render_page(bytes(acrf.content), ae, "acrf-pdf-en")
