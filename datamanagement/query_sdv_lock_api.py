"""REST resources of data management (issue 7 item 4; DESIGN §6 names): `queries`,
`sdv-marks` and `locks`.

Thin, like crf/api.py: the visibility gate (`subjects_visible_to`, through
`crf.queries.queries_for` for queries) answers 404 outside the caller's sites, DESIGN §4a through
`study.access` answers 403 within them, and every write is one call of the service the pages
call — `crf.queries` (raise, answer, close, re-open, cancel), `crf.sdv.mark_verified`,
`crf.locks.set_data_lock` / `lift_data_lock` — so the rules, the messages, freezes and locks
(a freeze allows query and SDV actions, a lock refuses them) and the audit rows are the pages'.
Records without a version column answer a strong ETag that digests their representation; a
step on a query and the lifting of a lock need `If-Match` with it (428 without, 412 stale).
Nothing is ever deleted: there is no DELETE.
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from crf import locks, queries, sdv, selectors
from crf.api import CONDITIONAL_ERRORS, IF_MATCH, as_api_error, content_etag, precondition
from crf.declarations import declaration_for
from crf.models import CrfInstance, DataLock, Query, QueryStatus, SdvMark
from crf.registry import crf_model
from study import access
from study.access import subjects_visible_to
from study.models import Study
from study.roles import Action
from study.subject_models import visit_model

# --- shared pieces ------------------------------------------------------------------------------


def _form_code(model: type[Model] | None) -> str:
    """The CRF code of a form model ("visit" for a visit-date query), as the pages name it."""
    if model is visit_model():
        return "visit"
    return getattr(model, "crf_code", "") if model is not None else ""


class FormRefMixin(serializers.Serializer):  # type: ignore[type-arg]
    """`form` (CRF code), `resource` (its API resource) and `form_id` of a record on one form."""

    form = serializers.SerializerMethodField(help_text="CRF code of the form (`visit` for a visit date).")
    resource = serializers.SerializerMethodField(help_text="API resource of the form, when it has one.")
    form_id = serializers.IntegerField(source="object_id", read_only=True, allow_null=True)

    @extend_schema_field(OpenApiTypes.STR)
    def get_form(self, record: Any) -> str:
        return _form_code(record.content_type.model_class() if record.content_type_id else None)

    @extend_schema_field(OpenApiTypes.STR)
    def get_resource(self, record: Any) -> str:
        model = record.content_type.model_class() if record.content_type_id else None
        return declaration_for(model).api_resource if model is not None else ""


def _record_id(params: Any, name: str, errors: dict[str, str]) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not str(value).isdigit():
        errors[name] = _("Give a record id.")
        return None
    return int(value)


def _yes(value: str) -> bool:
    return value.lower() in ("1", "true", "yes")


def _visible_form(user: Any, code: str, form_id: int) -> CrfInstance:
    """A saved form on a subject the caller may see, else a 400 naming the field."""
    model = crf_model(code)
    if model is None:
        raise ValidationError({"form": _("No such form.")})
    record = (
        model._default_manager.select_related("subject__site")
        .filter(pk=form_id, subject__in=subjects_visible_to(user))
        .first()
    )
    if record is None:
        raise ValidationError({"form_id": _("No such form among the subjects you may see.")})
    return record  # type: ignore[no-any-return]


def _service_error(exc: DjangoValidationError, renamed: dict[str, str] | None = None) -> ValidationError:
    """A service's refusal as a 400, its field names mapped onto the body's."""
    error = as_api_error(exc)
    if renamed and isinstance(error.detail, dict):
        error.detail = {renamed.get(name, name): msgs for name, msgs in error.detail.items()}
    return error


# --- queries --------------------------------------------------------------------------------------


class QueryStepSerializer(serializers.Serializer):  # type: ignore[type-arg]
    action = serializers.CharField(read_only=True)
    by = serializers.CharField(source="by.username", read_only=True, allow_null=True)
    at = serializers.DateTimeField(read_only=True)
    text = serializers.CharField(read_only=True)


class QuerySerializer(FormRefMixin, serializers.ModelSerializer[Query]):
    """A query with its thread (steps, oldest first) and its age in whole days."""

    subject_id = serializers.CharField(source="subject.subject_id", read_only=True, allow_null=True)
    field_label = serializers.SerializerMethodField()
    automatic = serializers.BooleanField(source="is_automatic", read_only=True)
    status = serializers.CharField(read_only=True, help_text="open, answered, closed or cancelled.")
    answer = serializers.CharField(read_only=True, help_text="corrected, confirmed or blank.")
    value = serializers.JSONField(read_only=True, help_text="The value queried, or the value confirmed.")
    raised_by = serializers.CharField(source="raised_by.username", read_only=True, allow_null=True)
    answered_by = serializers.CharField(source="answered_by.username", read_only=True, allow_null=True)
    closed_by = serializers.CharField(source="closed_by.username", read_only=True, allow_null=True)
    days_open = serializers.IntegerField(read_only=True, help_text="Whole days from raising to closing, or to now.")
    steps = QueryStepSerializer(many=True, read_only=True)

    class Meta:
        model = Query
        fields = [
            "id",
            "subject",
            "subject_id",
            "form",
            "resource",
            "form_id",
            "field_name",
            "field_label",
            "rule_code",
            "automatic",
            "text",
            "value",
            "status",
            "answer",
            "answer_text",
            "raised_by",
            "raised_at",
            "answered_by",
            "answered_at",
            "closed_by",
            "closed_at",
            "close_reason",
            "days_open",
            "steps",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_field_label(self, query: Query) -> str:
        return selectors.query_label(query)[1]


class RaiseQuerySerializer(serializers.Serializer):  # type: ignore[type-arg]
    form = serializers.CharField(max_length=20, help_text="CRF code of the form, as on the pages (e.g. VS).")
    form_id = serializers.IntegerField(min_value=1)
    field_name = serializers.CharField(max_length=100)
    text = serializers.CharField(max_length=2000, allow_blank=True)


class QueryStepBodySerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The text of a step: the answer's reason, the closing note, why re-opened or cancelled."""

    text = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AnswerQuerySerializer(QueryStepBodySerializer):
    answer = serializers.ChoiceField(
        choices=Query.Answer.choices,
        help_text="`confirmed`: the value stands (text = the reason). `corrected`: the value was corrected "
        "on the form since the query was raised.",
    )


def query_etag(query: Query, representation: dict[str, Any]) -> str:
    """Aging moves every day; the ETag covers what a step changes, not the clock."""
    return content_etag(query, {k: v for k, v in representation.items() if k != "days_open"})


QUERY_FILTERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=["active", *QueryStatus.values]),
    OpenApiParameter("form", OpenApiTypes.STR, description="CRF code (`visit` for visit dates)."),
    OpenApiParameter("subject", OpenApiTypes.INT, description="Subject id."),
    OpenApiParameter("site", OpenApiTypes.STR, description="Site code."),
    OpenApiParameter("origin", OpenApiTypes.STR, description="`automatic`, `manual` or a raiser's user id."),
    OpenApiParameter("min_days", OpenApiTypes.INT, description="Open at least this many days."),
]
STEP_RESPONSES = {200: QuerySerializer, **CONDITIONAL_ERRORS}


@extend_schema_view(
    list=extend_schema(summary="List queries (filters and aging as on the query pages)", parameters=QUERY_FILTERS),
    retrieve=extend_schema(summary="Read one query with its thread (ETag)"),
    create=extend_schema(
        summary="Raise a query on one field of a form (monitor, data manager)",
        request=RaiseQuerySerializer,
        responses={201: QuerySerializer, 400: CONDITIONAL_ERRORS[400], 403: CONDITIONAL_ERRORS[403]},
    ),
    answer=extend_schema(
        summary="Answer an open query: value corrected or confirmed (site staff; If-Match)",
        request=AnswerQuerySerializer,
        parameters=[IF_MATCH],
        responses=STEP_RESPONSES,
    ),
    close=extend_schema(
        summary="Close an answered query (the raiser; automatic: monitor or data manager; If-Match)",
        request=QueryStepBodySerializer,
        parameters=[IF_MATCH],
        responses=STEP_RESPONSES,
    ),
    reopen=extend_schema(
        summary="Re-open a closed query, saying why (If-Match)",
        request=QueryStepBodySerializer,
        parameters=[IF_MATCH],
        responses=STEP_RESPONSES,
    ),
    cancel=extend_schema(
        summary="Cancel an open or answered query, with a reason (If-Match)",
        request=QueryStepBodySerializer,
        parameters=[IF_MATCH],
        responses=STEP_RESPONSES,
    ),
)
class QueryViewSet(viewsets.GenericViewSet[Query]):
    """Queries on the subjects the caller may see at sites where the caller may view CRF pages
    (DESIGN §4 "Queries", §4a)."""

    serializer_class = QuerySerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Query]:
        return selectors.with_steps(queries.queries_for(self.request.user))

    def get_object(self) -> Query:
        query = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if query is None:
            raise Http404
        return query

    def respond(self, query: Query, status_code: int = status.HTTP_200_OK) -> Response:
        data = QuerySerializer(query).data
        return Response(data, status=status_code, headers={"ETag": query_etag(query, data)})

    def list(self, request: Request) -> Response:
        if not access.can_anywhere(request.user, Action.VIEW_CRF):
            raise PermissionDenied
        params = request.query_params
        errors: dict[str, str] = {}
        subject = _record_id(params, "subject", errors)
        status_filter = params.get("status", "")
        if status_filter and status_filter not in ("active", *QueryStatus.values):
            errors["status"] = _("One of: %(values)s.") % {"values": ", ".join(("active", *QueryStatus.values))}
        form = params.get("form", "")
        if form and form != "visit" and crf_model(form) is None:
            errors["form"] = _("No such form.")
        origin = params.get("origin", "")
        if origin and origin not in ("automatic", "manual") and not origin.isdigit():
            errors["origin"] = _("Give automatic, manual or a user id.")
        min_days = _record_id(params, "min_days", errors)
        if errors:
            raise ValidationError(errors)
        found = selectors.query_list(
            request.user,
            selectors.QueryFilters(
                site=params.get("site", ""),
                subject=subject,
                status=status_filter,
                form=form,
                origin=origin,
                min_days=min_days,
            ),
        )
        page = self.paginate_queryset(selectors.with_steps(found))
        return self.get_paginated_response(QuerySerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return self.respond(self.get_object())

    def create(self, request: Request) -> Response:
        if not access.can_anywhere(request.user, Action.MANAGE_QUERIES):
            raise PermissionDenied
        body = RaiseQuerySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        form = _visible_form(request.user, data["form"], data["form_id"])
        try:
            query = queries.raise_query(
                user=request.user,  # type: ignore[arg-type]
                form=form,
                field_name=data["field_name"],
                text=data["text"],
            )
        except DjangoValidationError as exc:
            raise _service_error(exc) from exc
        return self.respond(self.get_queryset().get(pk=query.pk), status.HTTP_201_CREATED)

    def _step(self, request: Request, body_class: type[QueryStepBodySerializer], step: Any) -> Response:
        """One step on a query (the services decide who may take it): gate, If-Match, body, service."""
        query = self.get_object()
        representation = QuerySerializer(query).data
        stale = precondition(request, query_etag(query, representation), lambda: representation)
        if stale is not None:
            return stale
        body = body_class(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            step(query, body.validated_data)
        except DjangoValidationError as exc:
            raise _service_error(exc, {"reason": "text"}) from exc
        return self.respond(self.get_object())

    @action(detail=True, methods=["post"], serializer_class=AnswerQuerySerializer)
    def answer(self, request: Request, pk: str | None = None) -> Response:
        return self._step(
            request,
            AnswerQuerySerializer,
            lambda query, data: queries.answer_query(
                user=request.user,  # type: ignore[arg-type]
                query=query,
                answer=data["answer"],
                text=data["text"],
            ),
        )

    @action(detail=True, methods=["post"], serializer_class=QueryStepBodySerializer)
    def close(self, request: Request, pk: str | None = None) -> Response:
        return self._step(
            request,
            QueryStepBodySerializer,
            lambda query, data: queries.close_query(user=request.user, query=query, note=data["text"]),  # type: ignore[arg-type]
        )

    @action(detail=True, methods=["post"], serializer_class=QueryStepBodySerializer)
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        return self._step(
            request,
            QueryStepBodySerializer,
            lambda query, data: queries.reopen_query(user=request.user, query=query, text=data["text"]),  # type: ignore[arg-type]
        )

    @action(detail=True, methods=["post"], serializer_class=QueryStepBodySerializer)
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._step(
            request,
            QueryStepBodySerializer,
            lambda query, data: queries.cancel_query(user=request.user, query=query, reason=data["text"]),  # type: ignore[arg-type]
        )


# --- SDV marks ------------------------------------------------------------------------------------


class SdvMarkSerializer(FormRefMixin, serializers.ModelSerializer[SdvMark]):
    verified_by = serializers.CharField(source="verified_by.username", read_only=True)
    cleared_by = serializers.CharField(source="cleared_by.username", read_only=True, allow_null=True)
    active = serializers.SerializerMethodField(help_text="False once a later change cleared the mark.")

    class Meta:
        model = SdvMark
        fields = [
            "id",
            "subject",
            "form",
            "resource",
            "form_id",
            "field_name",
            "form_version",
            "verified_by",
            "verified_at",
            "active",
            "cleared_at",
            "cleared_by",
            "cleared_reason",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_active(self, mark: SdvMark) -> bool:
        return mark.cleared_at is None


class MarkSdvSerializer(serializers.Serializer):  # type: ignore[type-arg]
    form = serializers.CharField(max_length=20, help_text="CRF code of the form, as on the pages (e.g. VS).")
    form_id = serializers.IntegerField(min_value=1)
    field_name = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", help_text="Blank: the whole form."
    )


def _record_filters(queryset: QuerySet[Any], params: Any) -> QuerySet[Any]:
    """`subject`, `form` (CRF code) and `form_id` filters of a list of records on forms."""
    errors: dict[str, str] = {}
    subject = _record_id(params, "subject", errors)
    form_id = _record_id(params, "form_id", errors)
    code = params.get("form", "")
    model = crf_model(code) if code and code != "visit" else (visit_model() if code == "visit" else None)
    if code and model is None:
        errors["form"] = _("No such form.")
    if errors:
        raise ValidationError(errors)
    if subject is not None:
        queryset = queryset.filter(subject_id=subject)
    if model is not None:
        queryset = queryset.filter(content_type=ContentType.objects.get_for_model(model))
    if form_id is not None:
        queryset = queryset.filter(object_id=form_id)
    return queryset


RECORD_FILTERS = [
    OpenApiParameter("subject", OpenApiTypes.INT, description="Subject id."),
    OpenApiParameter("form", OpenApiTypes.STR, description="CRF code."),
    OpenApiParameter("form_id", OpenApiTypes.INT, description="Form id (with `form`)."),
    OpenApiParameter("active", OpenApiTypes.BOOL),
]


@extend_schema_view(
    list=extend_schema(summary="List SDV marks (active and cleared)", parameters=RECORD_FILTERS),
    retrieve=extend_schema(summary="Read one SDV mark (ETag)"),
    create=extend_schema(
        summary="Verify a whole form or one field against the source (monitor)",
        request=MarkSdvSerializer,
        responses={201: SdvMarkSerializer, 400: CONDITIONAL_ERRORS[400], 403: CONDITIONAL_ERRORS[403]},
    ),
)
class SdvMarkViewSet(viewsets.GenericViewSet[SdvMark]):
    """Source data verification marks (DESIGN §4 "SDV marks"): readable where the caller may view
    CRF pages; a later change to the verified data clears a mark (it stays, `active` false)."""

    serializer_class = SdvMarkSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[SdvMark]:
        visible = subjects_visible_to(self.request.user).filter(
            site__in=access.sites_where(self.request.user, Action.VIEW_CRF)
        )
        return (
            SdvMark.objects.filter(subject__in=visible)
            .select_related("content_type", "verified_by", "cleared_by")
            .order_by("verified_at", "pk")
        )

    def respond(self, mark: SdvMark, status_code: int = status.HTTP_200_OK) -> Response:
        data = SdvMarkSerializer(mark).data
        return Response(data, status=status_code, headers={"ETag": content_etag(mark, data)})

    def list(self, request: Request) -> Response:
        if not access.can_anywhere(request.user, Action.VIEW_CRF):
            raise PermissionDenied
        found = _record_filters(self.get_queryset(), request.query_params)
        if "active" in request.query_params:
            found = found.filter(cleared_at__isnull=_yes(request.query_params["active"]))
        page = self.paginate_queryset(found)
        return self.get_paginated_response(SdvMarkSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        mark = self.get_queryset().filter(pk=pk).first()
        if mark is None:
            raise Http404
        return self.respond(mark)

    def create(self, request: Request) -> Response:
        if not access.can_anywhere(request.user, Action.MARK_SDV):
            raise PermissionDenied
        body = MarkSdvSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        form = _visible_form(request.user, data["form"], data["form_id"])
        try:
            mark = sdv.mark_verified(user=request.user, form=form, field_name=data["field_name"])  # type: ignore[arg-type]
        except DjangoValidationError as exc:
            raise _service_error(exc) from exc
        return self.respond(self.get_queryset().get(pk=mark.pk), status.HTTP_201_CREATED)


# --- freezes and locks ------------------------------------------------------------------------------


class DataLockSerializer(FormRefMixin, serializers.ModelSerializer[DataLock]):
    kind = serializers.CharField(read_only=True, help_text="freeze or lock.")
    scope = serializers.SerializerMethodField(help_text="study, subject or form.")
    study = serializers.CharField(source="study.code", read_only=True)
    set_by = serializers.CharField(source="set_by.username", read_only=True)
    lifted_by = serializers.CharField(source="lifted_by.username", read_only=True, allow_null=True)
    active = serializers.SerializerMethodField(help_text="In force (not lifted).")

    class Meta:
        model = DataLock
        fields = [
            "id",
            "kind",
            "scope",
            "study",
            "subject",
            "form",
            "resource",
            "form_id",
            "reason",
            "set_by",
            "set_at",
            "active",
            "lifted_by",
            "lifted_at",
            "lift_reason",
            "override_reason",
            "open_items",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_scope(self, lock: DataLock) -> str:
        if lock.object_id is not None:
            return "form"
        return "subject" if lock.subject_id is not None else "study"

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_active(self, lock: DataLock) -> bool:
        return lock.lifted_at is None


class SetLockSerializer(serializers.Serializer):  # type: ignore[type-arg]
    kind = serializers.ChoiceField(choices=DataLock.Kind.choices)
    reason = serializers.CharField(max_length=300, allow_blank=True)
    study = serializers.CharField(
        max_length=40, required=False, help_text="Study code; needed only when you manage data in several studies."
    )
    subject = serializers.IntegerField(required=False, min_value=1, help_text="Subject id: its whole casebook.")
    form = serializers.CharField(max_length=20, required=False, help_text="CRF code (with `form_id`): one form.")
    form_id = serializers.IntegerField(required=False, min_value=1)
    override_reason = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        default="",
        help_text="A subject or study lock with checklist items open: why lock anyway (recorded with the lock). "
        "Without it such a lock answers 409 with the open items.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("form" in attrs) != ("form_id" in attrs):
            raise ValidationError({"form_id" if "form" in attrs else "form": _("Give both the form and its id.")})
        return attrs


class LiftLockSerializer(serializers.Serializer):  # type: ignore[type-arg]
    reason = serializers.CharField(max_length=300, allow_blank=True)


@extend_schema_view(
    list=extend_schema(
        summary="List freezes and locks",
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=list(DataLock.Kind.values)),
            OpenApiParameter("active", OpenApiTypes.BOOL, description="In force (true) or lifted (false)."),
            *RECORD_FILTERS[:3],
        ],
    ),
    retrieve=extend_schema(summary="Read one freeze or lock (ETag)"),
    create=extend_schema(
        summary="Freeze or lock the study, a subject or a form (data manager)",
        request=SetLockSerializer,
        responses={
            201: DataLockSerializer,
            400: CONDITIONAL_ERRORS[400],
            403: CONDITIONAL_ERRORS[403],
            409: OpenApiTypes.OBJECT,
        },
    ),
    lift=extend_schema(
        summary="Lift a freeze or lock, with a reason (data manager; If-Match)",
        request=LiftLockSerializer,
        parameters=[IF_MATCH],
        responses={200: DataLockSerializer, **CONDITIONAL_ERRORS},
    ),
)
class DataLockViewSet(viewsets.GenericViewSet[DataLock]):
    """Freezes and locks (DESIGN §4): readable by the roles that see the casebook badges (view CRF
    pages); set and lifted by a data manager with a reason. Study-wide ones show to anyone who
    may view CRF pages at a site of the study."""

    serializer_class = DataLockSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[DataLock]:
        user = self.request.user
        sites = access.sites_where(user, Action.VIEW_CRF)
        visible = subjects_visible_to(user).filter(site__in=sites)
        return (
            DataLock.objects.filter(
                Q(subject__isnull=True, study_id__in=sites.values("study_id")) | Q(subject__in=visible)
            )
            .select_related("study", "content_type", "set_by", "lifted_by")
            .order_by("set_at", "pk")
        )

    def get_object(self) -> DataLock:
        lock = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if lock is None:
            raise Http404
        return lock

    def respond(self, lock: DataLock, status_code: int = status.HTTP_200_OK) -> Response:
        data = DataLockSerializer(lock).data
        return Response(data, status=status_code, headers={"ETag": content_etag(lock, data)})

    def list(self, request: Request) -> Response:
        if not access.can_anywhere(request.user, Action.VIEW_CRF):
            raise PermissionDenied
        params = request.query_params
        found = _record_filters(self.get_queryset(), params)
        if "kind" in params:
            if params["kind"] not in DataLock.Kind.values:
                raise ValidationError({"kind": _("Choose freeze or lock.")})
            found = found.filter(kind=params["kind"])
        if "active" in params:
            found = found.filter(lifted_at__isnull=_yes(params["active"]))
        page = self.paginate_queryset(found)
        return self.get_paginated_response(DataLockSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return self.respond(self.get_object())

    def _study(self, code: str | None) -> Study:
        managed = [
            s
            for s in access.studies_visible_to(self.request.user)
            if access.can_anywhere(self.request.user, Action.FREEZE_LOCK, study=s)
        ]
        if code is not None:
            chosen = [s for s in managed if s.code == code]
            if not chosen:
                raise ValidationError({"study": _("No such study among those whose data you manage.")})
            return chosen[0]
        if len(managed) != 1:
            raise ValidationError({"study": _("Name the study.")})
        return managed[0]

    def create(self, request: Request) -> Response:
        if not access.can_anywhere(request.user, Action.FREEZE_LOCK):
            raise PermissionDenied
        body = SetLockSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        form: CrfInstance | None = None
        subject: Any = None
        if "form" in data:
            form = _visible_form(request.user, data["form"], data["form_id"])
            subject = form.subject
            if "subject" in data and data["subject"] != subject.pk:
                raise ValidationError({"subject": _("This form belongs to another subject.")})
        elif "subject" in data:
            subject = subjects_visible_to(request.user).filter(pk=data["subject"]).first()
            if subject is None:
                raise ValidationError({"subject": _("No such subject among those you may see.")})
        study = subject.site.study if subject is not None else self._study(data.get("study"))
        try:
            lock = locks.set_data_lock(
                user=request.user,  # type: ignore[arg-type]
                kind=data["kind"],
                study=study,
                subject=subject,
                form=form,
                reason=data["reason"],
                override_reason=data["override_reason"],
            )
        except locks.LockChecklistOpen as exc:
            return Response(
                {"detail": exc.messages[0], "open_items": exc.items, "checklist": exc.page_url},
                status=status.HTTP_409_CONFLICT,
            )
        except DjangoValidationError as exc:
            raise _service_error(exc) from exc
        return self.respond(self.get_object_by_pk(lock.pk), status.HTTP_201_CREATED)

    def get_object_by_pk(self, pk: int) -> DataLock:
        return DataLock.objects.select_related("study", "content_type", "set_by", "lifted_by").get(pk=pk)

    @action(detail=True, methods=["post"], serializer_class=LiftLockSerializer)
    def lift(self, request: Request, pk: str | None = None) -> Response:
        lock = self.get_object()
        representation = DataLockSerializer(lock).data
        stale = precondition(request, content_etag(lock, representation), lambda: representation)
        if stale is not None:
            return stale
        body = LiftLockSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            locks.lift_data_lock(user=request.user, lock=lock, reason=body.validated_data["reason"])  # type: ignore[arg-type]
        except DjangoValidationError as exc:
            raise _service_error(exc) from exc
        return self.respond(self.get_object_by_pk(lock.pk))
