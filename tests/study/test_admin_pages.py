"""A study admin invites users, grants and ends roles, deactivates and reactivates accounts on
pages; each change is audited twice: a readable AccountEvent and the trigger history (pghistory)
with the reason in its context (ISSUE-2 §3, DESIGN §4a "users and roles")."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from study.models import AccountEvent, Membership, MembershipEvent, User, UserEvent
from tests.conftest import PASSWORD, make_user

pytestmark = [pytest.mark.req("ISSUE-2"), pytest.mark.req("DESIGN-4a")]

STRONG_PASSWORD = "Blue-Kettle-Morning-42"


def invite(client: Client, site, **extra):  # type: ignore[no-untyped-def]
    data = {
        "username": "newcrc",
        "email": "newcrc@example.org",
        "first_name": "Mei",
        "last_name": "Sun",
        "printed_name": "Sun Mei",
        "language": "en",
        "site": site.pk,
        "role": "coordinator",
        **extra,
    }
    return client.post("/admin/users/invite/", data)


def history_reasons(events) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.pgh_context.get("reason") for e in events if e.pgh_context is not None]


def test_invite_sends_a_link_that_sets_a_strong_password(users_a, site_a, login):
    admin = users_a["study_admin"]
    response = invite(login(admin), site_a)
    new = User.objects.get(username="newcrc")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/users/{new.pk}/"
    assert not new.has_usable_password()
    assert list(new.memberships.values_list("site__code", "role", "granted_by")) == [("01", "coordinator", admin.pk)]

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["newcrc@example.org"]
    assert "newcrc" in message.body
    link = re.search(r"https?://\S+/accounts/set-password/\S+/", message.body).group(0)

    person = Client()
    form_page = person.get(link, follow=True)
    assert form_page.status_code == 200
    set_url = form_page.redirect_chain[-1][0]
    weak = person.post(set_url, {"new_password1": "password", "new_password2": "password"})
    assert weak.status_code == 200
    body = weak.content.decode()
    assert "This password is too short. It must contain at least 12 characters." in body
    assert "This password is too common." in body
    simple = person.post(set_url, {"new_password1": "alllowercaseletters", "new_password2": "alllowercaseletters"})
    assert "at least three of: lower-case letters, upper-case letters, digits, symbols" in simple.content.decode()
    new.refresh_from_db()
    assert not new.has_usable_password()

    done = person.post(set_url, {"new_password1": STRONG_PASSWORD, "new_password2": STRONG_PASSWORD})
    assert done.status_code == 302
    assert done["Location"] == "/accounts/set-password/done/"
    # The link works once.
    assert "invalid" in Client().get(link, follow=True).content.decode()

    signed_in = Client()
    assert signed_in.post("/accounts/login/", {"username": "newcrc", "password": STRONG_PASSWORD}).status_code == 302
    assert signed_in.get("/subjects/").status_code == 200

    assert list(AccountEvent.objects.filter(user=new).values_list("kind", "actor")) == [
        ("role_granted", admin.pk),
        ("invited", admin.pk),
    ]
    insert = UserEvent.objects.get(pgh_obj=new, pgh_label="insert")
    assert insert.pgh_context["reason"] == "invite user"
    assert insert.pgh_context["user"] == admin.pk
    assert history_reasons(MembershipEvent.objects.filter(pgh_obj__user=new)) == ["invite user"]


def test_invite_is_refused_to_other_roles_and_checks_input(users_a, site_a, login):
    assert invite(login(users_a["data_manager"]), site_a).status_code == 403
    assert not User.objects.filter(username="newcrc").exists()
    admin_client = Client()
    admin_client.post("/accounts/login/", {"username": "study_admin_a", "password": PASSWORD})
    response = invite(admin_client, site_a, username="coordinator_a")
    assert response.status_code == 200
    assert "This username is taken." in response.content.decode()
    assert mail.outbox == []


def test_grant_and_end_role_with_reason(users_a, site_a, site_b, login):
    admin = users_a["study_admin"]
    person = users_a["monitor"]
    client = login(admin)

    response = client.post(f"/admin/users/{person.pk}/grant/", {"site": site_b.pk, "role": "monitor"})
    assert response.status_code == 302
    membership = Membership.objects.get(user=person, site=site_b, role="monitor", ended_at__isnull=True)
    assert membership.granted_by == admin
    assert history_reasons(MembershipEvent.objects.filter(pgh_obj=membership)) == ["grant role"]

    # Granting the same active role twice is refused with a message.
    again = client.post(f"/admin/users/{person.pk}/grant/", {"site": site_b.pk, "role": "monitor"}, follow=True)
    assert "This user already holds this role at this site." in again.content.decode()

    # Ending needs a reason.
    blank = client.post(f"/admin/memberships/{membership.pk}/end/", {"reason": "  "}, follow=True)
    assert "Give a reason for ending this role." in blank.content.decode()
    membership.refresh_from_db()
    assert membership.ended_at is None

    client.post(f"/admin/memberships/{membership.pk}/end/", {"reason": "moved to another study"})
    membership.refresh_from_db()
    assert membership.ended_at is not None
    assert membership.ended_by == admin
    assert membership.end_reason == "moved to another study"
    assert Membership.objects.filter(pk=membership.pk).exists()  # ended, not deleted
    update = MembershipEvent.objects.get(pgh_obj=membership, pgh_label="update")
    assert update.pgh_context["reason"] == "moved to another study"
    assert update.pgh_context["user"] == admin.pk
    assert list(AccountEvent.objects.filter(user=person).values_list("kind", flat=True)) == [
        "role_ended",
        "role_granted",
    ]
    page = client.get(f"/admin/users/{person.pk}/").content.decode()
    assert "moved to another study" in page


def test_deactivate_and_reactivate_need_a_reason_and_never_delete(users_a, login):
    admin = users_a["study_admin"]
    person = users_a["statistician"]
    client = login(admin)

    blank = client.post(f"/admin/users/{person.pk}/active/", {"active": "0", "reason": ""}, follow=True)
    assert "Give a reason." in blank.content.decode()
    person.refresh_from_db()
    assert person.is_active

    client.post(f"/admin/users/{person.pk}/active/", {"active": "0", "reason": "left the hospital"})
    person.refresh_from_db()
    assert not person.is_active
    assert Client().post("/accounts/login/", {"username": person.username, "password": PASSWORD}).status_code == 200
    assert "Deactivated" in client.get(f"/admin/users/{person.pk}/").content.decode()

    client.post(f"/admin/users/{person.pk}/active/", {"active": "1", "reason": "returned"})
    person.refresh_from_db()
    assert person.is_active
    assert Client().post("/accounts/login/", {"username": person.username, "password": PASSWORD}).status_code == 302

    assert User.objects.filter(pk=person.pk).exists()
    assert list(AccountEvent.objects.filter(user=person).values_list("kind", "detail")) == [
        ("reactivated", "returned"),
        ("deactivated", "left the hospital"),
    ]
    updates = UserEvent.objects.filter(pgh_obj=person, pgh_label="update").order_by("pgh_id")
    assert [(e.is_active, e.pgh_context["reason"]) for e in updates] == [
        (False, "left the hospital"),
        (True, "returned"),
    ]


def test_admin_cannot_deactivate_self(users_a, login):
    admin = users_a["study_admin"]
    response = login(admin).post(f"/admin/users/{admin.pk}/active/", {"active": "0", "reason": "oops"}, follow=True)
    assert "You cannot deactivate your own account." in response.content.decode()
    admin.refresh_from_db()
    assert admin.is_active


def test_no_page_deletes_users_or_memberships(users_a, login):
    client = login(users_a["study_admin"])
    person = users_a["coordinator"]
    membership = person.memberships.get()
    for url in (f"/admin/users/{person.pk}/", f"/admin/memberships/{membership.pk}/end/"):
        assert client.delete(url).status_code in (404, 405)
    assert User.objects.filter(pk=person.pk).exists()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_admin_of_another_study_cannot_touch_these_users(users_a, site_a, other_admin, other_site):
    client = Client()
    assert client.post("/accounts/login/", {"username": other_admin.username, "password": PASSWORD}).status_code == 302
    person = users_a["coordinator"]
    membership = person.memberships.get()

    assert client.get(f"/admin/users/{person.pk}/").status_code == 404
    assert (
        client.post(f"/admin/users/{person.pk}/grant/", {"site": other_site.pk, "role": "monitor"}).status_code == 404
    )
    assert client.post(f"/admin/users/{person.pk}/grant/", {"site": site_a.pk, "role": "monitor"}).status_code == 404
    assert client.post(f"/admin/users/{person.pk}/active/", {"active": "0", "reason": "x"}).status_code == 404
    assert client.post(f"/admin/users/{person.pk}/unlock/").status_code == 404
    assert client.post(f"/admin/memberships/{membership.pk}/end/", {"reason": "x"}).status_code == 404
    # Their invite form offers only their own study's sites.
    response = invite(client, site_a)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()

    person.refresh_from_db()
    membership.refresh_from_db()
    assert person.is_active
    assert membership.ended_at is None
    assert list(person.memberships.values_list("site__code", "role")) == [("01", "coordinator")]
    assert not AccountEvent.objects.filter(actor=other_admin).exists()


def test_admin_cannot_grant_at_another_studys_site(users_a, other_site, login):
    client = login(users_a["study_admin"])
    person = users_a["coordinator"]
    response = client.post(f"/admin/users/{person.pk}/grant/", {"site": other_site.pk, "role": "monitor"}, follow=True)
    assert response.status_code == 200
    assert not person.memberships.filter(site=other_site).exists()


def test_non_admins_cannot_post_admin_actions(users_a, login):
    person = users_a["monitor"]
    membership = person.memberships.get()
    for role in ("coordinator", "investigator", "monitor", "data_manager", "statistician"):
        client = login(users_a[role])
        assert client.post(f"/admin/users/{person.pk}/active/", {"active": "0", "reason": "x"}).status_code == 403
        assert client.post(f"/admin/memberships/{membership.pk}/end/", {"reason": "x"}).status_code == 403
        assert client.post(f"/admin/users/{person.pk}/grant/", {"site": 1, "role": "monitor"}).status_code == 403
        client.logout()
    person.refresh_from_db()
    assert person.is_active


def test_shared_user_in_two_studies_is_seen_only_through_own_memberships(users_a, other_site, login):
    """A person with roles in both studies: each admin sees only their own study's roles."""
    shared = make_user("shared_person", site=other_site, role="monitor")
    from django.utils import timezone

    Membership.objects.create(
        user=shared, site=users_a["coordinator"].memberships.get().site, role="monitor", granted_at=timezone.now()
    )
    page = login(users_a["study_admin"]).get(f"/admin/users/{shared.pk}/").content.decode()
    assert re.findall(r"<td>(\d\d)</td>", page) == ["01"]
