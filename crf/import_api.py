"""`POST /api/v1/imports/<CRF code>/`: the CSV import of one form over the API (crf.imports).

Multipart body: `file` (the CSV), optional `encoding` (default: detect) and `dry_run`. Answers
201 with the ids created and updated, 400 with the per-row report (nothing saved), 200 for a
clean dry run; 404 for an unknown form, 403 for users who may not create/edit CRF data
(DESIGN §4a). Messages are in the user's language.
"""

from __future__ import annotations

from django.http import Http404
from django.utils import translation
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crf import csvfiles
from crf.imports import ids_by_kind, import_forms
from crf.models import ImportRecord
from crf.registry import crf_model
from study import access
from study.language import user_language
from study.roles import Action


class ImportInput(serializers.Serializer):  # type: ignore[type-arg]
    file = serializers.FileField()
    encoding = serializers.ChoiceField(choices=["", *csvfiles.ENCODINGS], required=False, default="")
    dry_run = serializers.BooleanField(required=False, default=False)


class CsvImportView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="imports_create",
        request={"multipart/form-data": ImportInput},
        responses={201: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
        description="Import one form's rows from a CSV file: all rows or none, with a per-row report.",
    )
    def post(self, request: Request, code: str) -> Response:
        model = crf_model(code)
        if model is None:
            raise Http404
        if not access.can_anywhere(request.user, Action.EDIT_CRF):
            raise PermissionDenied
        with translation.override(user_language(request.user)):
            given = ImportInput(data=request.data)
            given.is_valid(raise_exception=True)
            upload = given.validated_data["file"]
            if upload.size > csvfiles.MAX_BYTES:
                return Response({"file": [_("The file is too large.")]}, status=status.HTTP_400_BAD_REQUEST)
            try:
                csv_file = csvfiles.read_csv(
                    upload.read(), file_name=upload.name or "upload.csv", encoding=given.validated_data["encoding"]
                )
            except csvfiles.UnreadableFile as exc:
                return Response({"file": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
            result = import_forms(
                user=request.user,  # type: ignore[arg-type]
                model=model,
                csv_file=csv_file,
                channel=ImportRecord.Channel.API,
                dry_run=given.validated_data["dry_run"],
            )
        body = {
            "import": result.record.pk if result.record else None,
            "outcome": result.outcome,
            "file": csv_file.file_name,
            "sha256": csv_file.sha256,
            "encoding": csv_file.encoding,
            "delimiter": csv_file.delimiter,
            "rows": len(csv_file.rows),
            "errors": [error.as_dict() for error in result.errors],
            **ids_by_kind(result),
            "cleared": result.cleared,  # every stored value the import clears (<clear> cells)
        }
        if result.errors:
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        if result.outcome == ImportRecord.Outcome.CHECKED:
            return Response(body, status=status.HTTP_200_OK)
        return Response(body, status=status.HTTP_201_CREATED)
