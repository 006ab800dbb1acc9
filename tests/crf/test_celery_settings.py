"""Reliable Celery (ISSUE-3 item 5): the EFFECTIVE settings of the Celery app, and of a real running
worker as it reports them over the broker (a private Redis, never the shared one)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import free_port, stop_process
from tests.crf.test_outbox import child_env, start_redis, start_worker, wait_until
from trialsite.celery import app as celery_app

# `db`: the children need the test database's name; and the session's app-role setup
# (conftest.py) needs a test database even in a run of only this file.
pytestmark = [pytest.mark.req("ISSUE-3"), pytest.mark.usefixtures("db")]


def test_the_celery_app_acks_late_prefetches_one_and_speaks_only_json():
    conf = celery_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert set(conf.accept_content) == {"json"}
    assert conf.task_always_eager is False
    assert conf.task_time_limit and conf.task_time_limit > 0
    assert conf.task_soft_time_limit and 0 < conf.task_soft_time_limit < conf.task_time_limit
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    assert conf.broker_url.startswith(("redis://", "rediss://", "redis+socket://"))


def inspect_worker(broker_url: str, node: str, command: str) -> dict:
    """What `celery inspect <command> -d <node>` asks, over the private broker `broker_url`, from
    this process (the CLI would start Django three more times): the node's own reply, as JSON."""
    from celery import Celery

    probe = Celery("settings-probe", broker=broker_url, set_as_current=False)
    probe.conf.accept_content = ["json"]
    try:
        replies = getattr(probe.control.inspect(destination=[node], timeout=5), command)()
    finally:
        probe.close()
    assert replies and node in replies, (command, replies)
    return json.loads(json.dumps(replies[node]))


def test_a_running_worker_reports_prefetch_one_acks_late_json_and_time_limits(tmp_path):
    port = free_port()
    server = start_redis(port, tmp_path)
    env = child_env(f"redis://127.0.0.1:{port}/0")
    node = f"settings-{port}@localhost"
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, node)
    try:
        wait_until(
            lambda: worker.poll() is not None or f"{node} ready." in log.read_text(),
            timeout=60,
            what="the worker to be ready",
        )
        assert worker.poll() is None, log.read_text()
        conf = inspect_worker(env["REDIS_URL"], node, "conf")
        stats = inspect_worker(env["REDIS_URL"], node, "stats")
        registered = inspect_worker(env["REDIS_URL"], node, "registered")
    finally:
        stop_process(worker, timeout=15)
        stop_process(server)
    # the worker's own configuration (Django settings, CELERY_ namespace)
    assert conf["CELERY_TASK_ACKS_LATE"] is True
    assert conf["CELERY_TASK_REJECT_ON_WORKER_LOST"] is True
    assert conf["CELERY_WORKER_PREFETCH_MULTIPLIER"] == 1
    assert conf["CELERY_TASK_SERIALIZER"] == "json"
    assert conf["CELERY_ACCEPT_CONTENT"] == ["json"]
    time_limit = conf["CELERY_TASK_TIME_LIMIT"]
    assert conf["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] > time_limit
    # what it runs with: one pool process, one reserved message, the soft and hard time limits
    assert stats["pool"]["max-concurrency"] == 1
    assert stats["prefetch_count"] == 1
    assert stats["pool"]["timeouts"] == [conf["CELERY_TASK_SOFT_TIME_LIMIT"], time_limit]
    assert stats["broker"]["transport_options"]["visibility_timeout"] > time_limit
    assert "crf.tasks.record_delivery" in registered
