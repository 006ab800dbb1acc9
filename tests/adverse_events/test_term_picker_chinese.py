"""The AE term picker searches Chinese names and synonyms (issue 25 item 4): 发热 offers
Febrile neutropenia and Fever; a partial Chinese name is not an error; labels follow the
reader's language while the term sent back stays the English CTCAE term."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.req("ISSUE-25")


@pytest.fixture
def chinese_coordinator(users_a):
    user = users_a["coordinator"]
    user.language = "zh-hans"
    user.save(update_fields=["language"])
    return user


def test_fever_in_chinese_offers_febrile_neutropenia_and_fever(chinese_coordinator, login, client):
    login(chinese_coordinator)
    answer = client.get("/safety/ctcae-terms/", {"q": "发热"})
    assert answer.status_code == 200
    terms = [t["term"] for t in answer.json()["terms"]]
    assert {"Febrile neutropenia", "Fever"} <= set(terms)
    fever = next(t for t in answer.json()["terms"] if t["term"] == "Fever")
    assert fever["label"] == "Fever 发热"
    assert fever["soc_label"] == "全身性疾病及给药部位各种反应"


def test_a_partial_chinese_name_answers_without_error(chinese_coordinator, login, client):
    login(chinese_coordinator)
    answer = client.get("/safety/ctcae-terms/", {"q": "发热性中性"})
    assert answer.status_code == 200
    assert [t["term"] for t in answer.json()["terms"]][:1] == ["Febrile neutropenia"]


def test_chinese_soc_name_finds_its_terms(chinese_coordinator, login, client):
    login(chinese_coordinator)
    terms = client.get("/safety/ctcae-terms/", {"q": "血液及淋巴"}).json()["terms"]
    assert terms and all(t["soc"] == "Blood and lymphatic system disorders" for t in terms)


def test_english_reader_sees_english_labels(users_a, login, client):
    login(users_a["coordinator"])
    fever = next(t for t in client.get("/safety/ctcae-terms/", {"q": "fever"}).json()["terms"] if t["term"] == "Fever")
    assert (fever["label"], fever["soc_label"]) == ("Fever", "General disorders and administration site conditions")
