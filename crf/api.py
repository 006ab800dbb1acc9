"""The REST resources of every case report form (DESIGN §6), built from the forms' declarations.

Each form whose declaration names an `api_resource` (crf.declarations) gets a resource under
/api/v1/ with no further code: list (filters, stable paging), read, create, update (PUT/PATCH)
and an "entered-in-error" action instead of DELETE (DESIGN §4 "No hard deletes"). Every request
passes the visibility gate (`subjects_visible_to`: other sites' forms are 404) and DESIGN §4a
through `study.access` (403 within one's sites). Every write goes through `crf.services.save` —
the page's save path — so compare-and-set, locks, reason for change, derivations and edit checks
are identical.

Conditional requests: every read and write answers a strong `ETag` naming the record and its
version; an update needs `If-Match` with it (428 without, 412 with the current representation
when stale). The reason for change comes in the body field `reason` or the
`X-Reason-For-Change` header (percent-encoded UTF-8, so a reason in Chinese fits a header).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from django.core.exceptions import NON_FIELD_ERRORS, ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from django.http import Http404
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from crf import services
from crf import versions as crf_versions
from crf.declarations import declaration_for
from crf.idempotency import idempotent
from crf.models import CrfInstance, EntryStatus
from crf.queries import save_correcting
from crf.registry import crf_models
from dbtools.prepared import Prepared
from study import access
from study.access import subjects_visible_to
from study.roles import Action
from study.subject_models import visit_model

# --- conditional requests (shared by every resource) -------------------------------------------


class PreconditionRequired(APIException):
    status_code = 428
    default_detail = gettext_lazy("This update needs an If-Match header with the ETag of the representation you read.")
    default_code = "precondition_required"

    def __init__(self) -> None:
        super().__init__({"detail": str(self.default_detail), "code": self.default_code})


def version_etag(record: Model, version: int) -> str:
    """Strong ETag of a versioned record: its model label, primary key and version."""
    return f'"{record._meta.label_lower}-{record.pk}-v{version}"'


def content_etag(record: Model, representation: dict[str, Any]) -> str:
    """Strong ETag of a record without a version column: a digest of its representation."""
    digest = hashlib.sha256(json.dumps(representation, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return f'"{record._meta.label_lower}-{record.pk}-{digest}"'


def stale_response(representation: dict[str, Any], etag: str) -> Response:
    """412: the record changed since the client read it; here is what it holds now."""
    body = {
        "detail": _(
            "Someone else saved this record after you read it. Nothing was saved: compare your "
            "changes with the current values below, then send them again with the new ETag."
        ),
        "code": "stale",
        "etag": etag,
        "current": representation,
    }
    return Response(body, status=status.HTTP_412_PRECONDITION_FAILED, headers={"ETag": etag})


def precondition(request: Request, etag: str, representation: Callable[[], dict[str, Any]]) -> Response | None:
    """None when `If-Match` names `etag`; 428 when the header is missing (or `*`, which would let
    a client overwrite a version it never read); a 412 response when it names another version."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        raise PreconditionRequired
    tags = [tag.strip() for tag in header.split(",")]
    if etag in tags:  # strong comparison: a weak tag (W/"…") never matches
        return None
    return stale_response(representation(), etag)


def reason_for_change(request: Request, body_reason: str = "") -> str:
    """The reason from the body field `reason`, else the `X-Reason-For-Change` header."""
    if body_reason.strip():
        return body_reason.strip()
    return unquote(request.headers.get("X-Reason-For-Change", "")).strip()


def as_api_error(exc: DjangoValidationError) -> ValidationError:
    """A service's refusal as a 400 with field-level reasons (`non_field_errors` for the form)."""
    if hasattr(exc, "error_dict"):
        return ValidationError(
            {
                ("non_field_errors" if name == NON_FIELD_ERRORS else name): msgs
                for name, msgs in exc.message_dict.items()
            }
        )
    return ValidationError({"non_field_errors": exc.messages})


IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="The ETag of the representation you read. Missing: 428. Stale: 412 with the current "
    "representation and its ETag in the body.",
)
REASON_HEADER = OpenApiParameter(
    "X-Reason-For-Change",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Reason for change (percent-encoded UTF-8), instead of the body field `reason`. Required "
    "(400, field `reason`) when the stored record is complete.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="A key of your choosing (e.g. a UUID, 1–100 visible ASCII characters). A retry with the same "
    "key within a day answers as the first request did (header Idempotent-Replayed), without a second record.",
)
CONDITIONAL_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Field-level reasons; nothing saved."),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="Your role may not do this at the record's site."),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="No such record among the subjects you may see."),
    412: OpenApiResponse(
        OpenApiTypes.OBJECT, description="Stale If-Match: `current` holds the record now, `etag` its ETag."
    ),
    428: OpenApiResponse(OpenApiTypes.OBJECT, description="If-Match missing."),
}


# --- serializers -------------------------------------------------------------------------------


class GatedRelatedField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """A form's related record by id. The subject and the visit pass the visibility gate: one
    outside the caller's subjects does not exist (`subjects_visible_to`, the request's user).
    The subject is read by one statement compiled once (`study.access.visible_subject`; issue
    22: compiling the gate's query was a tenth of an API save's CPU)."""

    def get_queryset(self) -> QuerySet[Any]:
        request = self.context.get("request")
        if request is None or self.field_name not in ("subject", "visit"):
            return super().get_queryset()
        visible = subjects_visible_to(request.user)
        return visible if self.field_name == "subject" else visit_model().objects.filter(subject__in=visible)

    def to_internal_value(self, data: Any) -> Any:
        request = self.context.get("request")
        if self.field_name != "subject" or request is None or self.pk_field is not None or isinstance(data, bool):
            return super().to_internal_value(data)
        try:
            pk = int(data)
        except (TypeError, ValueError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if isinstance(data, float | str) and str(pk) != str(data).strip():  # "5.0", 5.5: as the ORM would
            return super().to_internal_value(data)
        subject = access.visible_subject(request.user, pk)
        if subject is None:
            self.fail("does_not_exist", pk_value=data)
        return subject


def _field_copy(field: serializers.Field) -> serializers.Field:  # type: ignore[type-arg]
    """A serializer's own copy of a built, unbound field. A shallow copy: binding sets the copy's
    own attributes (name, parent, label, source), and what it shares with the built field (its
    choices, validators, error messages, queryset) is only read. A field holding another field
    (a list's child, a related field's many-relation, a nested serializer), whose binding
    reaches into it, is deep-copied as DRF copies it (issue 22, sixth pass: DRF's deep copy
    re-ran every field's `__init__`, a tenth of an API save's CPU)."""
    if isinstance(field, serializers.BaseSerializer) or hasattr(field, "child") or hasattr(field, "child_relation"):
        return copy.deepcopy(field)
    return copy.copy(field)


class CrfSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """What every form resource carries; the model's own fields come from the factory. The
    subject and visit fields pass the visibility gate (`GatedRelatedField`)."""

    serializer_related_field = GatedRelatedField

    reason = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=300,
        help_text="Reason for change: required once the stored form is complete (or send X-Reason-For-Change).",
    )

    def get_fields(self) -> dict[str, serializers.Field]:  # type: ignore[type-arg]
        """The model's fields, built once per serializer class and copied for each serializer
        (issue 22: building them from the model took a tenth of a save's time). The copies are
        unbound: each serializer binds its own (`_field_copy`)."""
        cls = type(self)
        built = cls.__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            cls._built_fields = built  # type: ignore[attr-defined]
        return {name: _field_copy(field) for name, field in built.items()}

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """A record with the fields of its own CRF version only (crf.versions)."""
        data: dict[str, Any] = super().to_representation(instance)
        for name in instance.hidden_fields:
            data.pop(name, None)
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current = self.instance
        model = self.Meta.model
        hidden = current.hidden_fields if current is not None else crf_versions.hidden_fields(model, None)
        given = sorted(name for name in hidden if name in attrs and attrs[name] not in (None, ""))
        if given:
            version = current.crf_version if current is not None else crf_versions.current(model)
            raise ValidationError(
                {
                    name: _("This field is not on version %(version)s of this form.") % {"version": version}
                    for name in given
                }
            )
        if current is not None and "subject" in attrs and attrs["subject"].pk != current.subject_id:
            raise ValidationError({"subject": _("A form cannot move to another subject.")})
        subject_id = attrs["subject"].pk if "subject" in attrs else getattr(current, "subject_id", None)
        visit = attrs.get("visit")
        if visit is not None and visit.subject_id != subject_id:
            raise ValidationError({"visit": _("This visit belongs to another subject.")})
        if attrs.get("entry_status") == EntryStatus.NOT_STARTED and current is not None:
            raise ValidationError({"entry_status": _("A saved form is in progress or complete.")})
        return attrs


_stored_rows: dict[type[CrfInstance], Prepared[CrfInstance]] = {}


def stored_row(model: type[CrfInstance], pk: int) -> CrfInstance:
    """One form as stored, by a statement compiled once per form type (dbtools.prepared)."""
    statement = _stored_rows.get(model)
    if statement is None:
        statement = _stored_rows[model] = Prepared(lambda pk: model._default_manager.filter(pk=pk), ("pk",))
    return statement.objects(pk=pk)[0]


def serializer_for(model: type[CrfInstance]) -> type[CrfSerializer]:
    # Constraints (including conditional unique ones) are checked by full_clean in save_form,
    # so DRF's own unique-together validators are switched off rather than run twice.
    meta = type("Meta", (), {"model": model, "fields": "__all__", "validators": []})
    return type(f"{model.__name__}Serializer", (CrfSerializer,), {"Meta": meta, "__module__": __name__})


class EnteredInErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)


# --- creation through a lifecycle service --------------------------------------------------------

CreateService = Callable[..., CrfInstance]
_create_services: dict[type[CrfInstance], CreateService] = {}


def create_service(model: type[CrfInstance]) -> Callable[[CreateService], CreateService]:
    """Register how the API creates a form that the lifecycle services create (consent,
    eligibility): called with `user` and the validated fields as keyword arguments."""

    def decorator(func: CreateService) -> CreateService:
        _create_services[model] = func
        return func

    return decorator


# --- the viewset -------------------------------------------------------------------------------


class CrfViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,  # type: ignore[type-arg]
):
    model: type[CrfInstance]
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[CrfInstance]:
        """Forms of the subjects the caller may see (the gate), in a stable order."""
        return self.model._default_manager.filter(subject__in=subjects_visible_to(self.request.user)).order_by("pk")

    def filter_queryset(self, queryset: QuerySet[CrfInstance]) -> QuerySet[CrfInstance]:
        if self.action != "list":
            return queryset
        queryset = queryset.filter(subject__site__in=access.sites_where(self.request.user, Action.VIEW_CRF))
        params = self.request.query_params
        errors: dict[str, str] = {}
        for name in ("subject", "visit"):
            value = params.get(name)
            if value is not None:
                if not value.isdigit():
                    errors[name] = _("Give a record id.")
                else:
                    queryset = queryset.filter(**{f"{name}_id": int(value)})
        if "entry_status" in params:
            if params["entry_status"] not in EntryStatus.values:
                errors["entry_status"] = _("One of: %(values)s.") % {"values": ", ".join(EntryStatus.values)}
            queryset = queryset.filter(entry_status=params["entry_status"])
        if "entered_in_error" in params:
            queryset = queryset.filter(entered_in_error=params["entered_in_error"].lower() in ("1", "true", "yes"))
        date_field = self.model.clinical_date_field
        for name, lookup in (("date_from", "gte"), ("date_to", "lte")):
            if name in params:
                try:
                    day = parse_date(params[name]) if len(params[name]) == 10 else None
                except ValueError:  # well formed, not a date (2026-13-01)
                    day = None
                if day is None:
                    errors[name] = _("Give a date as YYYY-MM-DD.")
                elif date_field:
                    queryset = queryset.filter(**{f"{date_field}__{lookup}": day})
        if errors:
            raise ValidationError(errors)
        return queryset

    def get_object(self) -> CrfInstance:
        """404 outside the gate, 403 when the caller's role at the site may not view CRFs."""
        try:
            record = self.get_queryset().select_related("subject__site").get(pk=self.kwargs["pk"])
        except (self.model.DoesNotExist, ValueError):
            raise Http404 from None
        access.require(self.request.user, Action.VIEW_CRF, site=record.subject.site)
        return record

    def etag(self, record: CrfInstance) -> str:
        return version_etag(record, record.version)

    def respond(
        self, record: CrfInstance, status_code: int = status.HTTP_200_OK, used: CrfSerializer | None = None
    ) -> Response:
        """The record's representation with its ETag. `used`: the request's validated serializer,
        whose fields render the answer (issue 22: the fields of a form are built once a request)."""
        if used is None:
            used = self.get_serializer(record)
        else:
            used.instance = record
        return Response(used.data, status=status_code, headers={"ETag": self.etag(record)})

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not access.can_anywhere(request.user, Action.VIEW_CRF):
            raise PermissionDenied
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.respond(self.get_object())

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with access.memberships_read_once():  # one read for the checks here and the save's (issue 22)
            if not access.can_anywhere(request.user, Action.EDIT_CRF):
                raise PermissionDenied
            return idempotent(request, lambda: self._create(request))

    def _create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        reason = reason_for_change(request, data.pop("reason", ""))
        access.require(request.user, Action.EDIT_CRF, site=data["subject"].site)
        try:
            creator = _create_services.get(self.model)
            if creator is not None:
                saved = creator(user=request.user, **data)
            else:
                # a refusal is answered as a 400 and rolls the request back whole (DRF's
                # set_rollback): the save needs no savepoint of its own (issue 22)
                with services.whole_transaction_fails():
                    saved = services.save(
                        user=request.user, instance=self.model(**data), expected_version=None, reason=reason
                    )
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        # the answer reads the stored row (what the save and its re-derivations wrote); the gate
        # was passed on the way in (the subject field's queryset), so it is not compiled again
        return self.respond(stored_row(self.model, saved.pk), status.HTTP_201_CREATED, serializer)

    def get_object_by_pk(self, pk: int) -> CrfInstance:
        return self.get_queryset().select_related("subject__site").get(pk=pk)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with access.memberships_read_once():  # one read for the checks here and the save's (issue 22)
            return self._update(request, partial=kwargs.pop("partial", False))

    def _update(self, request: Request, *, partial: bool) -> Response:
        current = self.get_object()
        access.require(request.user, Action.EDIT_CRF, site=current.subject.site)
        stale = precondition(request, self.etag(current), lambda: self.get_serializer(current).data)
        if stale is not None:
            return stale
        serializer = self.get_serializer(current, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        reason = reason_for_change(request, data.pop("reason", ""))
        data.pop("subject", None)
        edited = self.get_object_by_pk(current.pk)
        for name, value in data.items():
            setattr(edited, name, value)
        try:
            saved = save_correcting(user=request.user, instance=edited, expected_version=current.version, reason=reason)
        except services.StaleVersionError as exc:
            now = self.get_object_by_pk(exc.current.pk)
            return stale_response(self.get_serializer(now).data, self.etag(now))
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return self.respond(self.get_object_by_pk(saved.pk), status.HTTP_200_OK, serializer)

    @action(detail=True, methods=["post"], url_path="entered-in-error", serializer_class=EnteredInErrorSerializer)
    def entered_in_error(self, request: Request, pk: str | None = None) -> Response:
        """Mark the form entered in error (never deleted), with a reason; needs If-Match."""
        current = self.get_object()
        access.require(request.user, Action.EDIT_CRF, site=current.subject.site)
        output = serializer_for(self.model)
        stale = precondition(
            request, self.etag(current), lambda: output(current, context=self.get_serializer_context()).data
        )
        if stale is not None:
            return stale
        body = EnteredInErrorSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reason = reason_for_change(request, body.validated_data.get("reason", ""))
        try:
            saved = services.mark_entered_in_error(
                user=request.user, instance=current, expected_version=current.version, reason=reason
            )
        except services.StaleVersionError as exc:
            now = self.get_object_by_pk(exc.current.pk)
            return stale_response(output(now, context=self.get_serializer_context()).data, self.etag(now))
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        saved = self.get_object_by_pk(saved.pk)
        return Response(output(saved, context=self.get_serializer_context()).data, headers={"ETag": self.etag(saved)})


LIST_FILTERS = [
    OpenApiParameter("subject", OpenApiTypes.INT, description="Subject id."),
    OpenApiParameter("visit", OpenApiTypes.INT, description="Visit id."),
    OpenApiParameter("entry_status", OpenApiTypes.STR, enum=list(EntryStatus.values)),
    OpenApiParameter("entered_in_error", OpenApiTypes.BOOL),
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="Clinical date on or after (YYYY-MM-DD)."),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Clinical date on or before (YYYY-MM-DD)."),
]


def viewset_for(model: type[CrfInstance]) -> type[CrfViewSet]:
    serializer = serializer_for(model)
    title = str(model._meta.verbose_name)
    write = {
        "parameters": [IF_MATCH, REASON_HEADER],
        "responses": {200: serializer, **CONDITIONAL_ERRORS},
    }
    viewset = type(
        f"{model.__name__}ViewSet",
        (CrfViewSet,),
        {"model": model, "serializer_class": serializer, "__module__": __name__, "__doc__": model.__doc__},
    )
    return extend_schema_view(  # type: ignore[no-any-return]
        list=extend_schema(summary=f"List {title} forms", parameters=LIST_FILTERS),
        retrieve=extend_schema(summary=f"Read one {title} form (ETag)"),
        create=extend_schema(
            summary=f"Create one {title} form",
            parameters=[REASON_HEADER, IDEMPOTENCY_KEY],
            responses={
                201: serializer,
                400: CONDITIONAL_ERRORS[400],
                403: CONDITIONAL_ERRORS[403],
                422: OpenApiResponse(OpenApiTypes.OBJECT, description="Idempotency-Key reused for another request."),
            },
        ),
        update=extend_schema(summary=f"Replace one {title} form (If-Match)", **write),
        partial_update=extend_schema(summary=f"Change one {title} form (If-Match)", **write),
        entered_in_error=extend_schema(
            summary=f"Mark one {title} form entered in error (If-Match)",
            request=EnteredInErrorSerializer,
            parameters=[IF_MATCH, REASON_HEADER],
            responses={200: serializer, **CONDITIONAL_ERRORS},
        ),
    )(viewset)


def crf_resources() -> dict[str, type[CrfInstance]]:
    """Every form whose declaration names an API resource, by resource name."""
    found: dict[str, type[CrfInstance]] = {}
    for model in crf_models().values():
        resource = declaration_for(model).api_resource
        if not resource:
            continue
        if resource in found:
            raise ImproperlyConfigured(
                f"{model.__name__} and {found[resource].__name__} share the API resource {resource!r}"
            )
        found[resource] = model
    return dict(sorted(found.items()))


def register_crf_resources(router: BaseRouter) -> None:
    for resource, model in crf_resources().items():
        router.register(resource, viewset_for(model), basename=resource)
