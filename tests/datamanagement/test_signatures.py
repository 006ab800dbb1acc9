"""Electronic signatures (issue 26 item 1; DESIGN §4 "E-signatures", §4a "sign"; 21 CFR Part 11
§11.50 manifestation, §11.70 linking, §11.200 re-authentication): sign, a covered change breaks
the signature (and the change's audit row names it), re-sign; a wrong password signs nothing and
counts toward the lockout; only investigators at their own sites sign; signatures are never
edited or deleted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from axes.models import AccessAttempt
from django.db import DatabaseError, transaction

from datamanagement import canonical, signatures
from datamanagement.models import Signature
from labs.models import VitalSigns, VitalSignsEvent
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.req("ISSUE-26")

API = "/api/v1/signatures/"


@pytest.fixture
def api(client, api_token):
    def _as(user):
        token = api_token(user)
        return lambda method, url, data=None: getattr(client, method)(
            url, data, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"
        )

    return _as


def _sign_form(call, user, vs, password=PASSWORD, **extra):
    body = {
        "subject": vs.subject_id,
        "scope": "form",
        "form": "VS",
        "form_id": vs.pk,
        "meaning": "reviewed_approved",
        "username": user.username,
        "password": password,
        **extra,
    }
    return call("post", API, body)


def test_sign_break_by_edit_and_resign(vs, users_a, api, save_vs):
    investigator = users_a["investigator"]
    call = api(investigator)
    response = _sign_form(call, investigator, vs)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["broken"] is False and body["meaning"] == "reviewed_approved"
    assert body["printed_name"] == "investigator_a" and body["time_zone"] == "Asia/Shanghai"
    assert body["covered"] == [["VS", vs.pk, 1]]
    signed = Signature.objects.get(pk=body["id"])
    # the stored hash is the SHA-256 of the documented canonical JSON of the form as signed
    doc = canonical.document(scope="form", subject=vs.subject, visit=None, forms=[VitalSigns.objects.get(pk=vs.pk)])
    assert signed.content_sha256 == canonical.sha256(doc) and len(signed.content_sha256) == 64
    assert b'"systolic_bp":120' in canonical.canonical_bytes(doc)
    assert call("get", f"{API}{signed.pk}/verify/").json()["matches"] is True

    # the coordinator corrects a covered field: the signature breaks, the edit's audit row says which
    save_vs(vs, systolic_bp=135, reason="transcription error")
    signed.refresh_from_db()
    assert signed.broken_at is not None and signed.broken_by == users_a["coordinator"]
    assert signed.broken_reason == f"VS #{vs.pk} changed (systolic_bp): transcription error"
    edit = VitalSignsEvent.objects.filter(pgh_obj_id=vs.pk, pgh_label="update").latest("pgh_id")
    assert edit.pgh_context["broken_signatures"] == [signed.pk]
    assert edit.pgh_context["reason"] == "transcription error"
    verification = call("get", f"{API}{signed.pk}/verify/").json()
    assert verification["matches"] is False and verification["broken"] is True
    assert [s["id"] for s in call("get", f"{API}?to_resign=1").json()["results"]] == [signed.pk]

    # re-signing gives a new intact signature; the broken one stays as it was
    again = _sign_form(call, investigator, vs)
    assert again.status_code == 201 and again.json()["covered"] == [["VS", vs.pk, 2]]
    assert call("get", f"{API}?to_resign=1").json()["results"] == []
    assert Signature.objects.filter(subject=vs.subject).count() == 2
    assert Signature.objects.get(pk=signed.pk).broken_at is not None


def test_wrong_password_signs_nothing_and_counts_toward_lockout(vs, users_a, api, settings):
    investigator = users_a["investigator"]
    call = api(investigator)
    response = _sign_form(call, investigator, vs, password="wrong-password")
    assert response.status_code == 400
    assert "password" in response.json()
    assert Signature.objects.count() == 0
    assert AccessAttempt.objects.get(username="investigator_a").failures_since_start == 1
    # a user ID that is not the caller's signs nothing either, even with its right password
    other = make_user("other_investigator", site=vs.subject.site, role="investigator")
    assert _sign_form(call, investigator, vs, username=other.username).status_code == 400
    assert Signature.objects.count() == 0
    # the failures reach the lockout: then even the right password signs nothing
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_form(call, investigator, vs, password="wrong-password")
    assert _sign_form(call, investigator, vs).status_code in (400, 403, 429)
    assert Signature.objects.count() == 0


def test_only_investigators_at_their_own_sites_sign(vs, users_a, api, site_b):
    for role in ("coordinator", "monitor", "data_manager", "study_admin"):
        user = users_a[role]
        assert _sign_form(api(user), user, vs).status_code == 403, role
    elsewhere = make_user("investigator_b", site=site_b, role="investigator")
    response = _sign_form(api(elsewhere), elsewhere, vs)
    assert response.status_code == 400 and "subject" in response.json()
    assert Signature.objects.count() == 0
    assert api(elsewhere)("get", API).json()["results"] == []


def _sign_casebook(rf, user, subject):
    """Sign through the service with a request carrying a session (as a page does)."""
    request = rf.post("/")
    request.session = {}
    signed = signatures.sign(
        request=request,
        user=user,
        subject=subject,
        scope="casebook",
        meaning="reviewed",
        username=user.username,
        password=PASSWORD,
    )
    return request, signed


def test_signatures_are_never_edited_or_deleted(vs, users_a, rf):
    _request, signature = _sign_casebook(rf, users_a["investigator"], vs.subject)
    for attempt in (
        lambda: Signature.objects.filter(pk=signature.pk).delete(),
        lambda: Signature.objects.filter(pk=signature.pk).update(meaning="reviewed_approved"),
        lambda: Signature.objects.filter(pk=signature.pk).update(content_sha256="0" * 64),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    Signature.objects.filter(pk=signature.pk).update(broken_reason="x", broken_at=signature.signed_at)
    with pytest.raises(DatabaseError), transaction.atomic():
        Signature.objects.filter(pk=signature.pk).update(broken_at=None)


def test_casebook_signature_broken_by_a_new_form_and_by_a_change_outside_the_save_path(vs, users_a, rf, save_vs):
    request, signed = _sign_casebook(rf, users_a["investigator"], vs.subject)
    assert request.session[signatures.SESSION_KEY] == users_a["investigator"].pk
    # later in the session the password alone is enough
    visit_free = signatures.sign(
        request=request,
        user=users_a["investigator"],
        subject=vs.subject,
        scope="form",
        form=vs,
        meaning="reviewed",
        password=PASSWORD,
    )
    new = save_vs(subject=vs.subject, systolic_bp=118)
    signed.refresh_from_db()
    visit_free.refresh_from_db()
    assert signed.broken_at is not None and signed.broken_reason == "VS added" and new.pk
    assert visit_free.broken_at is None  # a form signature covers its own form only
    # a write that bypasses the save service is still found by verification
    VitalSigns.objects.filter(pk=vs.pk).update(diastolic_bp=85)
    assert signatures.verify(visit_free).matches is False
    signatures.refresh([visit_free])
    assert visit_free.broken_reason == "Signed content found changed on verification."


def test_signing_pages_and_manifestation(vs, users_a, client, login):
    investigator = users_a["investigator"]
    login(investigator)
    url = f"/data/signatures/sign/?subject={vs.subject_id}&scope=form&code=VS&pk={vs.pk}"
    page = client.get(url).content.decode()
    assert 'name="username"' in page and f"VS #{vs.pk}" in page
    form = {"subject": vs.subject_id, "scope": "form", "code": "VS", "pk": vs.pk, "meaning": "reviewed_approved"}
    wrong = client.post(url, {**form, "username": "investigator_a", "password": "nope"})
    assert wrong.status_code == 200 and "Nothing was signed" in wrong.content.decode()
    assert Signature.objects.count() == 0
    assert client.post(url, {**form, "username": "investigator_a", "password": PASSWORD}).status_code == 302
    # the second signing in the session asks for the password only
    casebook = f"/data/signatures/sign/?subject={vs.subject_id}&scope=casebook"
    page = client.get(casebook).content.decode()
    assert 'name="username"' not in page and 'name="password"' in page
    done = client.post(
        casebook, {"subject": vs.subject_id, "scope": "casebook", "meaning": "reviewed", "password": PASSWORD}
    )
    assert done.status_code == 302
    shown = client.get(f"/subjects/{vs.subject_id}/forms/VS/{vs.pk}/").content.decode()
    assert "Reviewed and approved" in shown and "(Asia/Shanghai, UTC+08:00)" in shown
    assert shown.count("signature-manifestation") == 2
    # a coordinator sees the manifestation but may not open the signing page
    client.logout()
    login(users_a["coordinator"])
    assert "Reviewed and approved" in client.get(f"/subjects/{vs.subject_id}/forms/VS/{vs.pk}/").content.decode()
    assert client.get(url).status_code == 403


def test_a_broken_signature_shows_when_it_broke_in_the_signing_sites_zone(vs, users_a, rf, client, login):
    """The manifestation and the signature list give the break time in the zone the signature was
    made in (Asia/Shanghai for site A), with its offset — they printed the UTC clock before."""
    _request, signed = _sign_casebook(rf, users_a["investigator"], vs.subject)
    broke = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)  # 22:05 in Shanghai
    Signature.objects.filter(pk=signed.pk).update(broken_at=broke, broken_reason="VS added")
    login(users_a["investigator"])
    for url in (f"/subjects/{vs.subject_id}/forms/VS/{vs.pk}/", f"/data/signatures/?subject={vs.subject_id}"):
        page = client.get(url).content.decode()
        assert "Broken on 2026-03-02 22:05 +08:00: VS added" in page, url
        assert "14:05" not in page, url
