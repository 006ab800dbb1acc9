"""Issue 24 item 5 and §6: the top bar per role, every link followable by its reader (DESIGN
§4a); a skip link first; a favicon; htmx told not to inject inline styles (CSP)."""

from __future__ import annotations

import re

import pytest

from tests.factories import protocol_v1

pytestmark = pytest.mark.req("ISSUE-24")


def _nav(html: str) -> dict[str, str]:
    nav = html[html.index('<nav aria-label="Main">') : html.index("</nav>")]
    return {label.strip(): url for url, label in re.findall(r'<a href="([^"]+)">([^<]+)', nav)}


@pytest.mark.parametrize(
    ("role", "expected", "absent"),
    [
        ("coordinator", ["Subjects", "Due visits", "My queries"], ["SDV worklist"]),
        ("investigator", ["Subjects", "Due visits", "My queries"], ["SDV worklist"]),
        ("monitor", ["Subjects", "Queries", "SDV worklist"], ["Due visits"]),
        ("statistician", [], ["Subjects", "Due visits", "Queries", "SDV worklist"]),
    ],
)
def test_top_bar_links_per_role_are_all_followable(users_a, login, study, role, expected, absent):
    protocol_v1(study)  # the safety dashboard needs the study's settings
    client = login(users_a[role])
    html = client.get("/").content.decode()
    links = _nav(html)
    for label in expected:
        assert label in links, (role, label, links)
        assert client.get(links[label]).status_code == 200, (role, label)
    for label in absent:
        assert label not in links, (role, label)
    for url in links.values():
        assert client.get(url).status_code == 200, (role, url)


def test_skip_link_favicon_and_htmx_config(users_a, login):
    html = login(users_a["coordinator"]).get("/").content.decode()
    body = html[html.index("<body>") :]
    assert body.split("<a ", 1)[1].startswith('class="skip-link" href="#main"')
    assert 'id="main"' in html
    assert 'rel="icon"' in html and "favicon.svg" in html
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false}\'>' in html
