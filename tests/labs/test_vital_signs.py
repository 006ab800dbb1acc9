"""Vital signs at their limits (issue 6 item 1): impossible values refused with a field error,
implausible ones queried; a nasal cannula without its flow is queried (CLINICAL_SPEC §1.2 e)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from crf.models import Query
from labs.models import VitalSigns
from tests.factories import protocol_v1, vital_signs

pytestmark = pytest.mark.req("ISSUE-6")


@pytest.fixture(autouse=True)
def protocol(study):
    return protocol_v1(study)


def open_rules(vs) -> list[str]:
    return sorted(
        Query.objects.filter(
            content_type=ContentType.objects.get_for_model(VitalSigns), object_id=vs.pk, status="open"
        ).values_list("rule_code", flat=True)
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature_c", D("29.9")),
        ("temperature_c", D("45.1")),
        ("spo2", 101),
        ("spo2", 39),
        ("heart_rate", 19),
        ("systolic_bp", 301),
        ("oxygen_flow_l_min", D("-1")),
    ],
)
def test_impossible_vital_signs_are_refused(users_a, subject_a, field, value):
    with pytest.raises(ValidationError) as refused:
        vital_signs(users_a["coordinator"], subject_a, **{field: value})
    assert field in refused.value.message_dict
    assert not VitalSigns.objects.exists()


@pytest.mark.parametrize(
    ("values", "rules"),
    [
        ({"temperature_c": D("30.0")}, []),
        ({"temperature_c": D("45.0")}, ["VS-TEMP-HIGH"]),
        ({"temperature_c": D("41.5")}, []),
        ({"temperature_c": D("41.6")}, ["VS-TEMP-HIGH"]),
        ({"oxygen_device": "nasal_cannula", "oxygen_flow_l_min": D("6.0")}, []),
        ({"oxygen_device": "nasal_cannula"}, ["VS-FLOW-MISSING"]),
        ({"oxygen_device": "hfnc"}, ["VS-FLOW-MISSING"]),
        ({"oxygen_device": "facemask"}, []),
        ({"oxygen_device": "room_air", "oxygen_flow_l_min": D("2")}, ["VS-FLOW-ROOM-AIR"]),
    ],
)
def test_implausible_or_incomplete_vital_signs_are_queried(users_a, subject_a, values, rules):
    vs = vital_signs(users_a["coordinator"], subject_a, **values)
    assert open_rules(vs) == rules
