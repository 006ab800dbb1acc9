"""Audit review and `audit-events` server time (issue 26 item 4): the median time Django takes to
answer, for a data manager of every site, each of: one subject's trail; one user over a month;
one field across all subjects; page 1 and page 500 of everything — on the review page
(/data/audit/) and through the API (/api/v1/audit-events/, 50 a page). Targets: < 1 s on the
demo, < 2 s at 10,000 subjects.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<scratch db> .venv/bin/python bench/audit_review.py \
        [--study synthetic] [--repeat 5] [--inflate-to 2800000]

The database must hold a study (the demo, or `manage.py generate_synthetic_study`). A data
manager `bench-data-manager` with a role at every site of the study is created if missing.

`--inflate-to N` (scratch databases only: the name must contain bench, scratch or synthetic)
copies the audit index's rows until it holds N rows, each copy under other (non-existent)
subject ids and 1 to k weeks earlier, pointing to the same history rows: the index then has the
size of a larger study (the 10,000-subject synthetic study had 2.8 million history rows) while
one subject's trail keeps its real size. It drops the index's one-row-per-event constraint in
that database to do so. It measures the index at scale, not the generator.
Server time is measured in-process with Django's test Client (middleware, views, queries,
templates; no network), after one warm-up request per URL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(__file__))
from _common import setup_django, signed_in_client


def _inflate(target: int) -> None:
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if not any(word in name for word in ("bench", "scratch", "synthetic")):
        raise SystemExit(f"--inflate-to refuses database {name!r}: not a scratch database")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), max(subject_pk) FROM datamanagement_auditindex")
        count, top = cursor.fetchone()
        if count >= target:
            return
        cursor.execute("ALTER TABLE datamanagement_auditindex DROP CONSTRAINT IF EXISTS auditindex_one_per_event")
        copy = 1
        started = time.monotonic()
        while count < target:
            cursor.execute(
                """
                INSERT INTO datamanagement_auditindex
                    (event_table, event_id, previous_id, at, action, obj_model, obj_id, subject_pk, site_pk,
                     user_pk, fields)
                SELECT event_table, event_id, previous_id, at - %s * interval '7 days', action, obj_model, obj_id,
                       subject_pk + %s, site_pk, user_pk, fields
                  FROM datamanagement_auditindex WHERE subject_pk <= %s
                 LIMIT %s
                """,
                [copy, copy * (top + 1), top, target - count],
            )
            count += cursor.rowcount
            copy += 1
        cursor.execute("ANALYZE datamanagement_auditindex")
        print(f"index inflated to {count:,} rows in {time.monotonic() - started:.0f} s", file=sys.stderr)


def _data_manager(study):  # type: ignore[no-untyped-def]
    from django.utils import timezone

    from study.models import Membership, User
    from study.roles import Role

    user, _created = User.objects.get_or_create(username="bench-data-manager")
    for site in study.sites.all():
        Membership.objects.get_or_create(
            user=user, site=site, role=Role.DATA_MANAGER, defaults={"granted_at": timezone.now()}
        )
    return user


def _cases(study) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    from django.db import connection

    from subjects.models import Subject

    with connection.cursor() as cursor:
        sites = list(study.sites.values_list("pk", flat=True))
        cursor.execute(
            "SELECT subject_pk FROM datamanagement_auditindex WHERE site_pk = ANY(%s) "
            "GROUP BY subject_pk ORDER BY count(*) DESC LIMIT 1",
            [sites],
        )
        subject = (
            Subject.objects.filter(pk=cursor.fetchone()[0]).first() or Subject.objects.filter(site__study=study).first()
        )
        cursor.execute(
            "SELECT user_pk, date_trunc('month', max(at)) FROM datamanagement_auditindex "
            "WHERE user_pk IS NOT NULL GROUP BY user_pk ORDER BY count(*) DESC LIMIT 1"
        )
        found = cursor.fetchone()
        cursor.execute(
            "SELECT f, count(*) FROM (SELECT unnest(fields) f FROM datamanagement_auditindex "
            "WHERE action = 'update' LIMIT 200000) x GROUP BY f ORDER BY 2 DESC LIMIT 1"
        )
        field = (cursor.fetchone() or ["systolic_bp"])[0]
    from study.models import User

    cases = [
        (
            "one subject",
            f"/data/audit/?subject_id={subject.subject_id}",
            f"/api/v1/audit-events/?subject={subject.pk}&limit=50",
        ),
        ("one field, all subjects", f"/data/audit/?field={field}", f"/api/v1/audit-events/?field={field}&limit=50"),
        ("everything, page 1", "/data/audit/", "/api/v1/audit-events/?limit=50"),
        ("everything, page 500", "/data/audit/?page=500", "/api/v1/audit-events/?limit=50&offset=24950"),
    ]
    if found is not None:
        user_pk, month = found
        name = User.objects.get(pk=user_pk).username
        first = month.date()
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        span = f"date_from={first}&date_to={last}"
        cases.insert(
            1,
            (
                f"one user ({name}), one month",
                f"/data/audit/?username={name}&{span}",
                f"/api/v1/audit-events/?user={user_pk}&{span}&limit=50",
            ),
        )
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="synthetic")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--inflate-to", type=int, default=0)
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    from study.models import Study

    if args.inflate_to:
        _inflate(args.inflate_to)
    study = Study.objects.get(code=args.study)
    client = signed_in_client(_data_manager(study))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM datamanagement_auditindex")
        total = cursor.fetchone()[0]
    print(f"audit index rows: {total:,}; study {study.code}, {study.sites.count()} sites")
    print(f"{'case':38} {'page ms':>9} {'api ms':>9}  rows")
    for label, page, api in _cases(study):
        medians = []
        for url in (page, api):
            response = client.get(url)  # warm-up
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            medians.append(statistics.median(times))
        rows = len(response.json()["results"])
        print(f"{label[:38]:38} {medians[0]:9.0f} {medians[1]:9.0f}  {rows}")


if __name__ == "__main__":
    main()
