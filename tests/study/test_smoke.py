import pytest


@pytest.mark.req("ISSUE-2")
def test_coordinator_signs_in_and_sees_study_home(users_a, login, site_a):
    client = login(users_a["coordinator"])
    response = client.get("/")
    assert response.status_code == 200
    assert site_a.name in response.content.decode()
