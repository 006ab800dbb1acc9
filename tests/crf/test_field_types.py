"""The one table of field types (crf.fields): the ODM DataType of a model field and the box a
form field gets on the CRF pages of PDFs, first matching row (subclasses before bases)."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib.postgres.fields import ArrayField
from django.db import models

from crf.fields import ODM_DATA_TYPES, PAPER_KINDS, PartialDateField, type_of

pytestmark = pytest.mark.req("ISSUE-29")


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (PartialDateField(), "partialDate"),
        (models.BooleanField(), "boolean"),
        (models.PositiveSmallIntegerField(), "integer"),
        (models.BigAutoField(), "integer"),
        (models.DecimalField(max_digits=5, decimal_places=1), "float"),
        (models.FloatField(), "double"),
        (models.DateTimeField(), "datetime"),
        (models.DateField(), "date"),
        (models.TimeField(), "time"),
        (models.CharField(max_length=5), "text"),
        (models.JSONField(), "text"),
        (ArrayField(models.CharField(max_length=5)), "text"),
    ],
)
def test_odm_data_types(field, expected):
    assert type_of(field, ODM_DATA_TYPES) == expected


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (forms.BooleanField(), "check"),
        (forms.NullBooleanField(), "check"),
        (forms.MultipleChoiceField(), "multiple"),
        (forms.TypedChoiceField(), "choice"),
        (forms.DateTimeField(), "datetime"),
        (forms.DateField(), "date"),
        (forms.DecimalField(), "number"),
        (forms.FloatField(), "number"),
        (forms.IntegerField(), "number"),
        (forms.CharField(), "text"),
    ],
)
def test_paper_kinds(field, expected):
    assert type_of(field, PAPER_KINDS) == expected
