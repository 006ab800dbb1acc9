"""REST resources `subjects` and `visits` (DESIGN §6), and how the API creates the two
lifecycle forms. Reads start from the visibility gate; writes go through the subject services
(consent opens a subject, the dose level and planned infusion date change with a reason, a
visit date is recorded) exactly as the pages do. Conditional requests as in crf/api.py: a
strong ETag (a digest of the representation: subjects and visits carry no version column),
If-Match on updates (428/412)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from crf.api import (
    CONDITIONAL_ERRORS,
    IF_MATCH,
    REASON_HEADER,
    as_api_error,
    content_etag,
    create_service,
    precondition,
    reason_for_change,
)
from crf.models import EntryStatus
from study import access
from study.access import access_subject, subjects_visible_to
from study.roles import Action
from subjects.models import EligibilityAssessment, InformedConsent, Subject, Visit
from subjects.services import subject as services
from subjects.services import visits


class SubjectSerializer(serializers.ModelSerializer[Subject]):
    site = serializers.CharField(source="site.code", read_only=True)

    class Meta:
        model = Subject
        fields = [
            "id",
            "subject_id",
            "screening_number",
            "site",
            "status",
            "status_date",
            "enrolled_on",
            "dose_level",
            "planned_infusion_date",
            "infusion_date",
        ]
        read_only_fields = fields


class SubjectCreateSerializer(serializers.Serializer[Subject]):
    """A new subject is a signed consent: it opens screening with the next screening number."""

    site = serializers.CharField(max_length=10, help_text="Site code.")
    consent_version = serializers.CharField(max_length=20)
    consent_date = serializers.DateField()


class SubjectUpdateSerializer(serializers.Serializer[Subject]):
    """What the API may change on a subject; each change needs its reason where the page does."""

    dose_level = serializers.CharField(max_length=20, required=False)
    planned_infusion_date = serializers.DateField(required=False)
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)


def subject_etag(subject: Subject) -> str:
    return content_etag(subject, SubjectSerializer(subject).data)


@extend_schema_view(
    create=extend_schema(
        request=SubjectCreateSerializer,
        responses={201: SubjectSerializer, 400: CONDITIONAL_ERRORS[400], 403: CONDITIONAL_ERRORS[403]},
        summary="Record a consent: a new subject in screening",
    ),
    update=extend_schema(
        request=SubjectUpdateSerializer,
        parameters=[IF_MATCH, REASON_HEADER],
        responses={200: SubjectSerializer, **CONDITIONAL_ERRORS},
        summary="Change the dose level or planned infusion date (If-Match)",
    ),
    partial_update=extend_schema(
        request=SubjectUpdateSerializer,
        parameters=[IF_MATCH, REASON_HEADER],
        responses={200: SubjectSerializer, **CONDITIONAL_ERRORS},
        summary="Change the dose level or planned infusion date (If-Match)",
    ),
)
class SubjectViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Subject],
):
    """Subjects the caller may see (the visibility gate); CRF-viewing roles only (DESIGN §4a)."""

    serializer_class = SubjectSerializer
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[Subject]:
        return (
            subjects_visible_to(self.request.user)
            .filter(site__in=access.sites_where(self.request.user, Action.VIEW_CRF))
            .order_by("site__code", "pk")
        )

    def filter_queryset(self, queryset: QuerySet[Subject]) -> QuerySet[Subject]:
        status_filter = self.request.query_params.get("status")
        if self.action == "list" and status_filter:
            queryset = queryset.filter(status=status_filter)
        return queryset

    def respond(self, subject: Subject, status_code: int = status.HTTP_200_OK) -> Response:
        data = SubjectSerializer(subject).data
        return Response(data, status=status_code, headers={"ETag": content_etag(subject, data)})

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not access.can_anywhere(request.user, Action.VIEW_CRF):
            raise PermissionDenied
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.respond(access_subject(request.user, kwargs["pk"], Action.VIEW_CRF))

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not access.can_anywhere(request.user, Action.EDIT_CRF):
            raise PermissionDenied
        body = SubjectCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        site = access.sites_visible_to(request.user).filter(code=body.validated_data["site"]).first()
        if site is None:
            raise ValidationError({"site": _("No such site among yours.")})
        access.require(request.user, Action.EDIT_CRF, site=site)
        try:
            subject = services.record_consent(
                user=request.user,  # type: ignore[arg-type]
                site=site,
                consent_version=body.validated_data["consent_version"],
                consent_date=body.validated_data["consent_date"],
            )
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return self.respond(Subject.objects.select_related("site").get(pk=subject.pk), status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        kwargs.pop("partial", None)
        subject = access_subject(request.user, kwargs["pk"], Action.VIEW_CRF)
        access.require(request.user, Action.EDIT_CRF, site=subject.site)
        subject = Subject.objects.select_for_update().select_related("site").get(pk=subject.pk)
        stale = precondition(request, subject_etag(subject), lambda: SubjectSerializer(subject).data)
        if stale is not None:
            return stale
        body = SubjectUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        reason = reason_for_change(request, data.get("reason", ""))
        user = request.user
        try:
            if "planned_infusion_date" in data:
                visits.set_planned_infusion_date(
                    user=user,  # type: ignore[arg-type]
                    subject=subject,
                    on=data["planned_infusion_date"],
                    reason=reason,
                )
            if "dose_level" in data and data["dose_level"] != subject.dose_level:
                services.change_dose_level(user=user, subject=subject, dose_level=data["dose_level"], reason=reason)  # type: ignore[arg-type]
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return self.respond(Subject.objects.select_related("site").get(pk=subject.pk))


class VisitSerializer(serializers.ModelSerializer[Visit]):
    visit_code = serializers.CharField(source="definition.code", read_only=True)
    visit_name = serializers.CharField(source="definition.name", read_only=True)
    visit_name_zh = serializers.CharField(source="definition.name_zh", read_only=True)
    out_of_window = serializers.BooleanField(read_only=True)

    class Meta:
        model = Visit
        fields = [
            "id",
            "subject",
            "visit_code",
            "visit_name",
            "visit_name_zh",
            "planned_date",
            "visit_date",
            "out_of_window",
        ]
        read_only_fields = ["id", "subject", "planned_date"]


class VisitUpdateSerializer(serializers.Serializer[Visit]):
    visit_date = serializers.DateField(allow_null=True)
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)


def visit_etag(visit: Visit) -> str:
    return content_etag(visit, VisitSerializer(visit).data)


@extend_schema_view(
    update=extend_schema(
        request=VisitUpdateSerializer,
        parameters=[IF_MATCH, REASON_HEADER],
        responses={200: VisitSerializer, **CONDITIONAL_ERRORS},
        summary="Record or change the visit date (If-Match)",
    ),
    partial_update=extend_schema(
        request=VisitUpdateSerializer,
        parameters=[IF_MATCH, REASON_HEADER],
        responses={200: VisitSerializer, **CONDITIONAL_ERRORS},
        summary="Record or change the visit date (If-Match)",
    ),
)
class VisitViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet[Visit]
):
    """Visits of the subjects the caller may see, instantiated from the schedule at enrolment
    (so not created here); the visit date is recorded through subjects.services.visits."""

    serializer_class = VisitSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Visit]:
        return (
            Visit.objects.filter(subject__in=subjects_visible_to(self.request.user))
            .select_related("definition", "subject__site")
            .order_by("subject_id", "definition__order", "pk")
        )

    def filter_queryset(self, queryset: QuerySet[Visit]) -> QuerySet[Visit]:
        if self.action != "list":
            return queryset
        queryset = queryset.filter(subject__site__in=access.sites_where(self.request.user, Action.VIEW_CRF))
        subject = self.request.query_params.get("subject")
        if subject is not None:
            if not subject.isdigit():
                raise ValidationError({"subject": _("Give a record id.")})
            queryset = queryset.filter(subject_id=int(subject))
        return queryset

    def get_object(self) -> Visit:
        visit = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if visit is None:
            raise Http404
        access.require(self.request.user, Action.VIEW_CRF, site=visit.subject.site)
        return visit

    def respond(self, visit: Visit) -> Response:
        data = VisitSerializer(visit).data
        return Response(data, headers={"ETag": content_etag(visit, data)})

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not access.can_anywhere(request.user, Action.VIEW_CRF):
            raise PermissionDenied
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.respond(self.get_object())

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        kwargs.pop("partial", None)
        visit = self.get_object()
        access.require(request.user, Action.EDIT_CRF, site=visit.subject.site)
        visit = self.get_queryset().select_for_update(of=("self",)).get(pk=visit.pk)
        etag = visit_etag(visit)
        stale = precondition(request, etag, lambda: VisitSerializer(visit).data)
        if stale is not None:
            return stale
        body = VisitUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            visits.record_visit_date(
                user=request.user,  # type: ignore[arg-type]
                visit=visit,
                visit_date=body.validated_data["visit_date"],
                reason=reason_for_change(request, body.validated_data.get("reason", "")),
            )
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return self.respond(self.get_queryset().get(pk=visit.pk))


# --- the lifecycle forms: created by the lifecycle services, as on the pages --------------------


def _new_entry_status(attrs: dict[str, Any]) -> str:
    """The API's rule for every resource: a new record is in progress unless the client sends
    complete (the pages' lifecycle services save these two complete)."""
    return attrs.get("entry_status") or EntryStatus.IN_PROGRESS


@create_service(InformedConsent)
def _create_consent(*, user, subject: Subject, consent_version: str, consent_date: date, **_ignored: Any):  # type: ignore[no-untyped-def]
    """A re-consent on a new consent form version (the first consent is POST /subjects/)."""
    return services.record_reconsent(
        user=user,
        subject=subject,
        consent_version=consent_version,
        consent_date=consent_date,
        entry_status=_new_entry_status(_ignored),
    )


@create_service(EligibilityAssessment)
def _create_eligibility(  # type: ignore[no-untyped-def]
    *, user, subject: Subject, protocol_version: str, assessment_date: date, criteria: Any, **_ignored: Any
):
    if not isinstance(criteria, dict) or not all(isinstance(v, bool) for v in criteria.values()):
        raise DjangoValidationError({"criteria": _("Give each criterion code with true or false.")})
    return services.record_eligibility(
        user=user,
        subject=subject,
        protocol_version=protocol_version,
        assessment_date=assessment_date,
        criteria=criteria,
        entry_status=_new_entry_status(_ignored),
    )
