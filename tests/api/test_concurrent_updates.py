"""Two clients send an update with the same If-Match at the same moment, against a real server:
exactly one is saved (200), the other is told it is stale (412) with the winner's values —
whether it loses at the If-Match check or at save_form's compare-and-set (DESIGN §4)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from knox.models import AuthToken

from labs.models import VitalSigns
from tests.factories import protocol_v1, vital_signs

pytestmark = pytest.mark.req("ISSUE-6")


def _patch(url: str, token: str, etag: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Authorization": f"Token {token}", "If-Match": etag, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_simultaneous_updates_one_wins_one_is_stale(transactional_db, live_server, users_a, subject_a, study):
    protocol_v1(study)
    form = vital_signs(users_a["coordinator"], subject_a)
    etag = f'"labs.vitalsigns-{form.pk}-v1"'
    url = f"{live_server.url}/api/v1/vital-signs/{form.pk}/"
    tokens = [AuthToken.objects.create(user=users_a[role])[1] for role in ("coordinator", "investigator")]
    results: list[tuple[int, dict[str, object]]] = []
    start = threading.Barrier(2)

    def send(token: str, temperature: str) -> None:
        start.wait()
        results.append(_patch(url, token, etag, {"temperature_c": temperature}))

    threads = [
        threading.Thread(target=send, args=(token, value))
        for token, value in zip(tokens, ("38.1", "39.2"), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(status for status, _body in results)
    assert statuses == [200, 412]
    winner = next(body for status, body in results if status == 200)
    loser = next(body for status, body in results if status == 412)
    assert loser["current"]["temperature_c"] == winner["temperature_c"]
    assert loser["etag"] == f'"labs.vitalsigns-{form.pk}-v2"'
    stored = VitalSigns.objects.get(pk=form.pk)
    assert stored.version == 2
    assert str(stored.temperature_c) == winner["temperature_c"]
