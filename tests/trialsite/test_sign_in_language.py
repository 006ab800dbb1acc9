"""The sign-in page speaks the language last used on this browser (the language cookie, set from
the account's language on every signed-in page), then the browser's (issue 25 item 5)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.req("ISSUE-25")


def test_sign_in_page_after_sign_out_keeps_the_account_language(users_a):
    user = users_a["coordinator"]
    user.language = "zh-hans"
    user.save(update_fields=["language"])
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert "Sign in to TrialSite" in browser.get("/accounts/login/").content.decode()
    assert browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD}).status_code == 302
    browser.get("/")
    assert browser.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    browser.post("/accounts/logout/")  # the session ends; the browser keeps its cookies
    assert "_auth_user_id" not in browser.session
    page = browser.get("/accounts/login/").content.decode()
    assert "登录" in page and "Sign in to TrialSite" not in page


def test_a_new_browser_follows_its_accept_language(db):
    page = Client(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").get("/accounts/login/").content.decode()
    assert "登录" in page
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get("/accounts/login/").content.decode()
    assert "Sign in to TrialSite" in page
