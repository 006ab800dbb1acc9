"""Issue 9 "Done when": in real Chromium and in Chinese, an investigator opens a day-28 marrow
assessment whose blasts sit exactly at 5% (CLINICAL_SPEC §8: PR, not CR, flagged): the derived
response awaits adjudication, the live partial shows the same, and the investigator adjudicates
it. Screenshot: artifacts/screenshots/marrow-boundary-adjudication-zh.png."""

from __future__ import annotations

import pytest
from django.utils import translation

from response.models import MarrowAssessment
from tests.browser.test_sign_in_and_forms import _sign_in
from tests.response.conftest import (  # noqa: F401 (fixtures)
    consent,
    coordinator,
    day,
    infused,
    investigator,
    marrow,
    protocol,
    screened,
)

pytestmark = [pytest.mark.browser, pytest.mark.req("ISSUE-9")]


@pytest.fixture
def boundary_marrow(transactional_db, site_a, infused, coordinator):  # noqa: F811
    site_a.name_zh = "测试医院"
    site_a.time_zone = "Asia/Shanghai"
    site_a.save()
    subject = infused()
    with translation.override("zh-hans"):  # entered by a coordinator working in Chinese
        return marrow(coordinator, subject, on=day(28), blasts="5", anc="1.6", plt="132")


@pytest.mark.req("DESIGN-1")
def test_investigator_sees_a_boundary_marrow_awaiting_adjudication_in_chinese(
    browser,
    live_server,
    boundary_marrow,
    investigator,  # noqa: F811
    screenshot,
):
    investigator.language = "zh-hans"
    investigator.save()
    ma = boundary_marrow
    context = browser.new_context(
        locale="zh-CN",
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
        viewport={"width": 1280, "height": 900},
    )
    page = context.new_page()
    _sign_in(page, live_server.url, investigator.username, "用户名", "密码", "登录")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/subjects/{ma.subject_id}/forms/MA/{ma.pk}/")
    assert page.get_by_role("heading", name="骨髓及疾病评估").is_visible()
    assert page.get_by_text("等待研究者判定").first.is_visible()
    live = page.locator("#live-response")
    live.get_by_text("按当前输入推导的疗效（未保存）").wait_for()
    assert live.get_by_text("有数值恰好等于阈值：将由研究者判定").is_visible()
    assert "PR" in live.inner_text()
    # typing a blast count below the threshold updates the live response, nothing saved
    page.get_by_label("骨髓原始细胞（%）").fill("4.9")
    page.get_by_label("骨髓原始细胞（%）").blur()
    live.get_by_text("CR, MRD unknown").wait_for()
    page.get_by_label("骨髓原始细胞（%）").fill("5")
    page.get_by_label("骨髓原始细胞（%）").blur()
    live.get_by_text("有数值恰好等于阈值：将由研究者判定").wait_for()
    screenshot(page, "marrow-boundary-adjudication-zh")
    assert MarrowAssessment.objects.get(pk=ma.pk).marrow_blasts_pct == 5

    page.get_by_role("link", name="判定疗效").click()
    page.get_by_label("判定疗效").select_option("CR")
    page.get_by_label("原因").fill("复核 500 个有核细胞计数为 4.8%")
    page.get_by_role("button", name="保存判定").click()
    page.get_by_text("疗效已判定。").wait_for()
    stored = MarrowAssessment.objects.get(pk=ma.pk)
    assert (stored.response, stored.adjudicated_response, stored.adjudicated_by_id) == ("PR", "CR", investigator.pk)
    context.close()
