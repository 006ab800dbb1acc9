"""The Chinese walk of 2026-12-07 (issue 25): a query's record history and the audit review page
read wholly in the reader's language. A system-written text (an automatic query's text) renders
from its message code, its code and parameter columns are not shown apart; the query's field
shows as the form's label of it, not its column name; its form by the form's title, not Django's
"Labs | …" content-type text; a person's own text stays as typed."""

from __future__ import annotations

import re

import pytest
from django.utils import translation

from crf.models import Query

pytestmark = pytest.mark.req("ISSUE-25")

DBP_EN = "Diastolic pressure is not below systolic pressure. Please check both values."
DBP_ZH = "舒张压不低于收缩压，请核对这两项数值。"
CODE_COLUMN_ZH = "消息代码"  # the label of `text_code`, "message code"


def _reader(user, language):
    user.language = language
    user.save(update_fields=["language"])
    return user


@pytest.fixture
def automatic_query(crf_ready, save_vs):
    with translation.override("en"):
        save_vs(subject=crf_ready, systolic_bp=90, diastolic_bp=95)
    return Query.objects.get()


def test_a_query_history_reads_in_chinese(automatic_query, users_a, login, client):
    login(_reader(users_a["data_manager"], "zh-hans"))
    page = client.get(f"/history/crf.Query/{automatic_query.pk}/").content.decode()
    assert page.count(DBP_ZH) == 1  # the query text, rendered from its code
    assert DBP_EN not in page  # neither the stored English text nor the code (the same text)
    assert CODE_COLUMN_ZH not in page and "message code" not in page
    assert '<th scope="row">字段</th>' in page  # the query's field, by the form's label of it
    assert "<td>→ 舒张压（mmHg）</td>" in page and "diastolic_bp" not in page
    assert '<th scope="row">病例报告表</th>' in page and "<td>→ 生命体征</td>" in page  # its form
    assert "Labs |" not in page and "labs |" not in page


def test_a_query_history_reads_in_english(automatic_query, users_a, login, client):
    login(_reader(users_a["data_manager"], "en"))
    page = client.get(f"/history/crf.Query/{automatic_query.pk}/").content.decode()
    assert page.count(DBP_EN) == 1 and DBP_ZH not in page
    assert "<td>→ diastolic BP (mmHg)</td>" in page and "<td>→ Vital signs</td>" in page


def test_a_persons_query_text_stays_as_typed(vs, users_a, login, client):
    from crf.queries import raise_query

    query = raise_query(user=users_a["monitor"], form=vs, field_name="systolic_bp", text="Please check the source.")
    login(_reader(users_a["data_manager"], "zh-hans"))
    page = client.get(f"/history/crf.Query/{query.pk}/").content.decode()
    assert "<td>→ Please check the source.</td>" in page
    assert "<td>→ 收缩压（mmHg）</td>" in page


def test_the_audit_review_shows_the_query_in_chinese(automatic_query, users_a, login, client):
    login(_reader(users_a["monitor"], "zh-hans"))
    page = client.get("/data/audit/?subject_id=A-001").content.decode()
    assert DBP_ZH in page and DBP_EN not in page
    assert "<code>text_code</code>" not in page and "<code>text_params</code>" not in page
    assert "<code>field_name</code></small>: – → 舒张压（mmHg）" in page  # by its label
    assert "<code>content_type_id</code></small>: – → 生命体征" in page and "Labs |" not in page


def test_a_visit_history_reads_in_chinese(visits, users_a, login, client):
    """A reference declared without a label ("definition", "site") by the name of what it refers
    to; a visit's expected forms ("none", "some") by their state."""
    from subjects.models import Visit
    from tests.datamanagement.conftest import TOMORROW

    visit = visits["due"]
    # as the visit derivation writes it (a change of forms_state alone is not tracked)
    Visit.objects.filter(pk=visit.pk).update(forms_state="some", visit_date=TOMORROW)
    login(_reader(users_a["data_manager"], "zh-hans"))
    page = client.get(f"/history/subjects.Visit/{visit.pk}/").content.decode()
    assert '<th scope="row">访视定义</th>' in page and "<td>→ 第 9 天</td>" in page
    assert '<th scope="row">应填表单</th>' in page and "<td>→ 填写中</td>" in page
    assert ">definition<" not in page and "→ some" not in page
    assert re.search(r'<td class="nowrap">\s*修改记录', page)  # the action column does not wrap


def test_derived_values_read_by_their_names():
    from crf.display import STRUCTURED_TEXT, forms_state_text

    inputs = STRUCTURED_TEXT[("response.MarrowAssessment", "derivation_inputs")]
    stored = {"anc": "1.6", "cns_status": "CNS1", "mrd_cutoff_pct": "0.01", "prior_remission": False, "new_key": 3}
    with translation.override("zh-hans"):
        assert forms_state_text("none") == "未开始" and forms_state_text("all") == "已完成"
        assert inputs(stored) == (
            "ANC（×10⁹/L）: 1.6; 脑脊液 / 中枢神经系统状态: CNS1（脑脊液未见原始细胞）; "
            "MRD 阴性界值（%）: 0.01; 本次评估前已缓解: 否; new_key: 3"
        )
    with translation.override("en"):
        assert inputs(stored).startswith("ANC (×10⁹/L): 1.6; CSF / CNS status: CNS1")


def test_the_subject_page_names_each_record_in_the_readers_language(vs, users_a, login, client):
    """The subject page lists a form's records by their type, number and clinical date in the
    reader's language (crf.display.record_name), not the developer's text ("<subject> VS
    2026-03-02")."""
    login(_reader(users_a["coordinator"], "zh-hans"))
    page = client.get(f"/subjects/{vs.subject_id}/").content.decode()
    assert f"生命体征 #{vs.pk} · 2026-03-02</a>" in page
    assert " VS 2026-03-02" not in page
