"""REST resource `signatures` (issue 26 item 1; DESIGN §6): list, read, create with
re-authentication, verify.

Creating a signature takes the password, and the user ID too (an API request has no signing
session: every signature through the API gives both, §11.200(a)(1)(ii) "each signing … all
components"). A wrong user ID or password is a failed login for django-axes (it counts toward
the lockout) and answers 400 on `password` with nothing signed — answered, not raised, so the
request's transaction commits and the failure stays recorded. §4a "sign": investigators only
(403), at their own sites (a subject outside the gate is a 400 on `subject`, as for locks; a
signature outside it a 404). Signatures are never edited or deleted: no PUT, PATCH or DELETE.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from crf.api import as_api_error
from crf.registry import crf_model
from datamanagement import signatures
from datamanagement.models import Signature, SignatureMeaning, SignatureScope
from study import access
from study.access import subjects_visible_to
from study.roles import Action
from study.subject_models import visit_model


class SignatureSerializer(serializers.ModelSerializer[Signature]):
    subject_id = serializers.CharField(source="subject.subject_id", read_only=True)
    signer = serializers.CharField(source="signer.username", read_only=True)
    form = serializers.SerializerMethodField(help_text="CRF code of the signed form (form scope).")
    form_id = serializers.IntegerField(source="object_id", read_only=True, allow_null=True)
    visit_code = serializers.CharField(source="visit.definition.code", read_only=True, allow_null=True, default=None)
    meaning_text = serializers.CharField(source="get_meaning_display", read_only=True)
    broken = serializers.BooleanField(source="is_broken", read_only=True)
    broken_by = serializers.CharField(source="broken_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Signature
        fields = [
            "id",
            "subject",
            "subject_id",
            "scope",
            "visit",
            "visit_code",
            "form",
            "form_id",
            "signer",
            "printed_name",
            "meaning",
            "meaning_text",
            "signed_at",
            "time_zone",
            "canonical_format",
            "content_sha256",
            "covered",
            "broken",
            "broken_at",
            "broken_by",
            "broken_reason",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_form(self, signature: Signature) -> str:
        model = signature.content_type.model_class() if signature.content_type_id else None
        return getattr(model, "crf_code", "") if model is not None else ""


class SignSerializer(serializers.Serializer):  # type: ignore[type-arg]
    subject = serializers.IntegerField(min_value=1, help_text="Subject id.")
    scope = serializers.ChoiceField(choices=SignatureScope.choices)
    visit = serializers.IntegerField(min_value=1, required=False, help_text="Visit id (visit scope).")
    form = serializers.CharField(max_length=20, required=False, help_text="CRF code (form scope, with form_id).")
    form_id = serializers.IntegerField(min_value=1, required=False)
    meaning = serializers.ChoiceField(choices=SignatureMeaning.choices)
    username = serializers.CharField(max_length=150, help_text="Your user ID (§11.200(a)(1)).")
    password = serializers.CharField(max_length=256, style={"input_type": "password"}, trim_whitespace=False)


VERIFY_RESPONSE = inline_serializer(
    "SignatureVerification",
    {
        "id": serializers.IntegerField(),
        "matches": serializers.BooleanField(help_text="The covered content still hashes to the signed SHA-256."),
        "broken": serializers.BooleanField(),
        "signed_sha256": serializers.CharField(),
        "current_sha256": serializers.CharField(),
    },
)


@extend_schema_view(
    list=extend_schema(
        summary="List signatures (newest first)",
        parameters=[
            OpenApiParameter("subject", OpenApiTypes.INT),
            OpenApiParameter("scope", OpenApiTypes.STR, enum=list(SignatureScope.values)),
            OpenApiParameter("broken", OpenApiTypes.BOOL),
            OpenApiParameter("to_resign", OpenApiTypes.BOOL, description="Only your 'to re-sign' list."),
        ],
    ),
    retrieve=extend_schema(summary="Read one signature"),
    create=extend_schema(
        summary="Sign a form, a visit or a casebook (investigator; user ID and password)",
        request=SignSerializer,
        responses={201: SignatureSerializer},
    ),
    verify=extend_schema(summary="Recompute the signed content's SHA-256", responses={200: VERIFY_RESPONSE}),
)
class SignatureViewSet(viewsets.GenericViewSet[Signature]):
    serializer_class = SignatureSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> Any:
        return signatures.signatures_visible_to(self.request.user)  # type: ignore[arg-type]

    def get_object(self) -> Signature:
        found = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if found is None:
            raise Http404
        return found  # type: ignore[no-any-return]

    def list(self, request: Request) -> Response:
        if not access.can_anywhere(request.user, Action.VIEW_CRF):
            raise PermissionDenied
        params = request.query_params
        if params.get("to_resign", "").lower() in ("1", "true", "yes"):
            rows: Any = signatures.to_resign(request.user)  # type: ignore[arg-type]
        else:
            rows = self.get_queryset()
            if params.get("subject"):
                if not params["subject"].isdigit():
                    raise ValidationError({"subject": _("Give a record id.")})
                rows = rows.filter(subject_id=int(params["subject"]))
            if params.get("scope"):
                if params["scope"] not in SignatureScope.values:
                    raise ValidationError({"scope": _("Choose form, visit or casebook.")})
                rows = rows.filter(scope=params["scope"])
            if "broken" in params:
                rows = rows.filter(broken_at__isnull=params["broken"].lower() not in ("1", "true", "yes"))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(SignatureSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(SignatureSerializer(self.get_object()).data)

    @action(detail=True, methods=["get"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        signature = self.get_object()
        result = signatures.verify(signature)
        signatures.refresh([signature])
        return Response(
            {
                "id": signature.pk,
                "matches": result.matches,
                "broken": signature.is_broken,
                "signed_sha256": signature.content_sha256,
                "current_sha256": result.current_sha256,
            }
        )

    def create(self, request: Request) -> Response:
        if not access.can_anywhere(request.user, Action.SIGN):
            raise PermissionDenied
        body = SignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        subject = subjects_visible_to(request.user).select_related("site").filter(pk=data["subject"]).first()
        if subject is None:
            raise ValidationError({"subject": _("No such subject among those you may see.")})
        visit = form = None
        if data["scope"] == SignatureScope.VISIT:
            visit = visit_model().objects.filter(pk=data.get("visit", 0), subject=subject).first()
            if visit is None:
                raise ValidationError({"visit": _("Name a visit of this subject.")})
        if data["scope"] == SignatureScope.FORM:
            model = crf_model(data.get("form", ""))
            if model is None:
                raise ValidationError({"form": _("No such form.")})
            form = model._default_manager.filter(pk=data.get("form_id", 0), subject=subject).first()
            if form is None:
                raise ValidationError({"form_id": _("No such form of this subject.")})
        try:
            signature = signatures.sign(
                request=request._request,
                user=request.user,  # type: ignore[arg-type]
                subject=subject,
                scope=data["scope"],
                meaning=data["meaning"],
                username=data["username"],
                password=data["password"],
                visit=visit,
                form=form,
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied from exc
        except signatures.ReauthenticationFailed as exc:
            # answered, not raised: nothing to roll back, and the failed attempt stays recorded
            return Response(as_api_error(exc).detail, status=status.HTTP_400_BAD_REQUEST)
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return Response(
            SignatureSerializer(self.get_queryset().get(pk=signature.pk)).data, status=status.HTTP_201_CREATED
        )
