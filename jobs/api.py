"""The REST side of a background job (DESIGN §6), shared by `endpoint-runs`, `exports` and `pdfs`:
list the jobs one may read, request one (202 with the job to poll, queued through the outbox),
poll its status and progress. A resource subclasses `JobViewSet` and says which jobs a user may
read (`visible`, `access_job`: 404 outside the gate), who may list and request them (403), and how a
request is made (`request_job`, one service call); its output serializer subclasses
`JobSerializer` and lists `JOB_FIELDS`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from crf.api import as_api_error
from study import access
from study.models import Study

#: what every job resource shows of the lifecycle (jobs.models.BackgroundJob), in this order
JOB_FIELDS = [
    "requested_by",
    "requested_at",
    "trigger",
    "snapshot_at",
    "code_version",
    "status",
    "progress",
    "attempts",
    "started_at",
    "finished_at",
    "duration_seconds",
    "error",
]


class JobSerializer(serializers.ModelSerializer[Any]):
    study = serializers.CharField(source="study.code", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True, default=None)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)  # null until the job finished


def job_resource(*, listed: str, one: str, start: str, request: type[Any], answer: type[Any]) -> Any:
    """The OpenAPI summaries of a job resource (drf-spectacular): list, retrieve, and create with
    its request serializer, answered 202 with the job or 400 with field-level reasons."""
    return extend_schema_view(
        list=extend_schema(summary=listed),
        retrieve=extend_schema(summary=one),
        create=extend_schema(
            summary=start,
            request=request,
            responses={202: answer, 400: OpenApiResponse(description="Field-level reasons.")},
        ),
    )


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Any]):
    #: the input serializer of a request
    request_serializer_class: type[serializers.Serializer[Any]]
    #: the right a study must grant the user at some site to request a job there; None when the
    #: request service decides alone (study.roles.Action)
    start_action: str | None = None

    # --- what a resource says (selectors of its app, as staticmethods) ----------------------------

    #: visible(user): the jobs the user may read
    visible: Callable[[Any], QuerySet[Any]]
    #: access_job(user, pk): the job if the user may read it; Http404 outside the gate
    access_job: Callable[[Any, int], Model]
    #: may_list(user): whether the user may list them at all (403 otherwise)
    may_list: Callable[[Any], bool]
    #: may_request(user): checked before the request's fields (403 before 400); the service
    #: checks again
    may_request: Callable[[Any], bool] = staticmethod(lambda user: True)

    def request_job(self, data: dict[str, Any]) -> Model:
        """One service call with the validated request."""
        raise NotImplementedError

    # --- the shared views ------------------------------------------------------------------------

    def get_queryset(self) -> QuerySet[Any]:
        return self.visible(self.request.user)

    def get_object(self) -> Any:
        try:
            pk = int(self.kwargs["pk"])
        except (TypeError, ValueError):
            raise NotFound from None
        return self.access_job(self.request.user, pk)  # DRF answers Http404 / PermissionDenied

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not self.may_list(request.user):
            raise PermissionDenied
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The job with an ETag of its state (DESIGN §6), so a poller sees when it moved."""
        job = self.get_object()
        state = f"{job.pk}:{job.status}:{job.progress}:{job.attempts}"
        etag = hashlib.sha256(state.encode()).hexdigest()
        return Response(self.get_serializer(job).data, headers={"ETag": f'"{etag}"'})

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # the gate before the body (403, not 400)
        if self.start_action is not None:
            access.require_anywhere(request.user, self.start_action)
        if not self.may_request(request.user):
            raise PermissionDenied
        data = self.request_serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = self.request_job(data.validated_data)
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        except DjangoPermissionDenied:
            raise PermissionDenied from None
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)

    def study_from(self, code: str | None) -> Study:
        """The study a request names, among the user's; may be left out by a member of one study.
        With `start_action`, the user must hold it at some site of the study (403)."""
        visible = access.studies_visible_to(self.request.user)
        if code:
            study = visible.filter(code=code).first()
            if study is None:
                raise ValidationError({"study": ["No such study among yours."]})
        else:
            studies = list(visible[:2])
            if len(studies) != 1:
                raise ValidationError({"study": ["Give the study code."]})
            study = studies[0]
        if self.start_action is not None and not access.can_anywhere(self.request.user, self.start_action, study=study):
            raise PermissionDenied
        return study
