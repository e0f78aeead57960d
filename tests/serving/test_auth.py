"""Bearer tokens from the target's serving.auth: 401 without a valid one, 403 outside its grant, and no
token ever in the server's output."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from serving_helpers import WINDOW, Server, write_project

READER = "reader-token-0123456789abcdef"
ADMIN = "admin-token-fedcba9876543210"
PUSHER = "pusher-token-5555555555555555"
WRONG = "wrong-token-aaaaaaaaaaaaaaaaaaaa"
TOKENS = {"auth": {"tokens": [
    {"name": "reader", "token": "{{ env_var('FC_TEST_READER_TOKEN') }}", "feature_services": ["driver_v1"],
     "feature_views": ["shift_stats"]},
    {"name": "admin", "token": "{{ env_var('FC_TEST_ADMIN_TOKEN') }}", "feature_services": ["*"],
     "feature_views": ["*"], "push_sources": ["*"], "write_feature_views": ["*"], "materialize": True},
    {"name": "pusher", "token": "{{ env_var('FC_TEST_PUSHER_TOKEN') }}", "push_sources": ["stats_push"]},
]}}
ENV = {"FC_TEST_READER_TOKEN": READER, "FC_TEST_ADMIN_TOKEN": ADMIN, "FC_TEST_PUSHER_TOKEN": PUSHER}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    root = tmp_path_factory.mktemp("auth")
    write_project(root, {"type": "sqlite", "path": ".fcompile/online.db"}, TOKENS)
    server = Server(root, "--reload-interval", "0", "--access-log", "--log-level", "debug", env=ENV)
    try:
        assert server.post("/materialize", WINDOW, headers=bearer(ADMIN)).status == 200
        yield server
    finally:
        server.stop()


READ = {"entities": {"driver_id": [1001]}, "feature_service": "driver_v1"}


def test_no_token_or_a_wrong_one_is_401(guarded):
    for headers in ({}, bearer(WRONG), {"Authorization": f"Basic {READER}"}, {"Authorization": "Bearer "}):
        reply = guarded.post("/get-online-features", READ, headers=headers)
        assert reply.status == 401, (headers, reply)
        assert reply.error["code"] == "FC127"
        assert reply.headers["www-authenticate"].startswith("Bearer")
        assert READER not in reply.body.decode() and WRONG not in reply.body.decode()
    assert guarded.post("/materialize", WINDOW).status == 401
    assert guarded.post("/push", {"push_source_name": "stats_push", "df": {}}).status == 401


def test_a_token_may_do_what_it_is_granted(guarded):
    assert guarded.post("/get-online-features", READ, headers=bearer(READER)).status == 200
    shifts = {"entities": {"shift_day": ["2024-05-01"]}, "features": ["shift_stats:demand"]}
    assert guarded.post("/get-online-features", shifts, headers=bearer(READER)).status == 200
    mixed = {**READ, "feature_service": "driver_mixed"}
    assert guarded.post("/get-online-features", mixed, headers=bearer(ADMIN)).status == 200


@pytest.mark.parametrize("path, body, words", [
    ("/get-online-features", {**READ, "feature_service": "driver_mixed"}, "read feature service 'driver_mixed'"),
    ("/get-online-features", {"entities": {"driver_id": [1]}, "features": ["driver_stats:trips"]},
     "read features of feature view 'driver_stats'"),
    ("/get-online-features", {**READ, "feature_service": "no_such_service"}, "'no_such_service'"),
    ("/push", {"push_source_name": "stats_push", "df": {"driver_id": [1]}}, "push to push source 'stats_push'"),
    ("/write-to-online-store", {"feature_view_name": "driver_stats", "df": {}}, "write feature view 'driver_stats'"),
    ("/materialize", WINDOW, "may not materialize"),
    ("/materialize-incremental", {"end_ts": "2024-06-01"}, "may not materialize"),
])
def test_outside_its_grant_is_403(guarded, path, body, words):
    reply = guarded.post(path, body, headers=bearer(READER))
    assert reply.status == 403, reply
    assert reply.error["code"] == "FC128" and "token 'reader'" in reply.error["message"]
    assert words in reply.error["message"]


def test_pusher_may_push_but_not_read(guarded):
    assert guarded.post("/get-online-features", READ, headers=bearer(PUSHER)).status == 403
    reply = guarded.post("/push", {"push_source_name": "driver_stats", "df": {}}, headers=bearer(PUSHER))
    assert reply.status == 403 and "push source 'driver_stats'" in reply.error["message"]


def test_health_and_metrics_need_no_token(guarded):
    assert guarded.get("/health").status == 200
    assert guarded.get("/metrics").status == 200


def test_health_without_a_token_says_only_whether_it_is_healthy(guarded):
    for headers in ({}, bearer(WRONG)):
        reply = guarded.get("/health", headers=headers)
        assert (reply.status, reply.json) == (200, {"status": "ok"})
    detailed = guarded.get("/health", headers=bearer(READER))
    assert detailed.status == 200 and detailed.json["status"] == "ok" and "project" in detailed.json


def test_tokens_are_never_logged(guarded):
    guarded.post("/get-online-features", READ, headers=bearer(WRONG))
    guarded.post("/get-online-features", {"bad": True}, headers=bearer(READER))
    log = guarded.log
    assert "401" in log and "/get-online-features" in log  # the access log is on, at debug level
    for secret in (READER, ADMIN, PUSHER, WRONG):
        assert secret not in log


def serve_once(project, env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FC_TEST_")} | env
    return subprocess.run([sys.executable, "-m", "fcompile", "serve", "--project-dir", str(project), "--port", "1"],
                          capture_output=True, text=True, env=full_env, timeout=60)


def test_short_duplicate_or_unset_tokens_stop_the_command(tmp_path):
    write_project(tmp_path, {"type": "sqlite"}, TOKENS)
    short = serve_once(tmp_path, {**ENV, "FC_TEST_READER_TOKEN": "short-secret"})
    assert short.returncode == 1, short.stderr
    assert "error[FC013]: serving token 'reader' is shorter than 16 characters" in short.stderr
    assert "short-secret" not in short.stderr + short.stdout
    same = serve_once(tmp_path, {**ENV, "FC_TEST_PUSHER_TOKEN": ADMIN})
    assert same.returncode == 1 and "serving token 'pusher' is the same secret as 'admin'" in same.stderr
    assert ADMIN not in same.stderr
    unset = serve_once(tmp_path, {"FC_TEST_READER_TOKEN": READER})
    assert unset.returncode == 1 and "FC_TEST_ADMIN_TOKEN" in unset.stderr and "FC080" in unset.stderr
    assert "Traceback" not in short.stderr + same.stderr + unset.stderr


def test_grant_of_an_unknown_name_is_a_warning(tmp_path):
    from fcompile.serving.server import ServeConfig, check_project

    tokens = {"auth": {"tokens": [{"name": "reader", "token": "{{ env_var('FC_TEST_READER_TOKEN', 'rrrrrrrrrrrrrrrrrrrrrrrr') }}",
                                   "feature_services": ["driver_v2", "*"],
                                   "push_sources": ["stats_psh"]}]}}
    write_project(tmp_path, {"type": "sqlite"}, {**tokens, "port": 7001})
    settings, warnings = check_project(ServeConfig(str(tmp_path)))
    assert (settings.host, settings.port) == (None, 7001)
    assert [(w.code.value, w.severity.value, w.message, w.hint) for w in warnings
            if w.code.value != "FC182"] == [  # FC182: nothing materialized yet
        ("FC034", "warning", "serving token 'reader' is granted unknown feature service 'driver_v2'",
         "did you mean 'driver_v1'?"),
        ("FC031", "warning", "serving token 'reader' is granted unknown push source 'stats_psh'",
         "did you mean 'stats_push'?"),
    ]


def test_views_never_materialized_are_a_warning_when_the_project_loads(tmp_path):
    """Every stored view of a fresh store reads as NOT_FOUND: the server says so when it loads the project (a
    log line), and stops saying it for the views a materialization then wrote."""
    from fcompile import FeatureStore
    from fcompile.serving.state import ServeConfig, load_state

    write_project(tmp_path, {"type": "sqlite"})

    def warned() -> list[str]:
        state = load_state(ServeConfig(str(tmp_path)), 1)
        try:
            return [w.message for w in state.warnings if w.code.value == "FC182"]
        finally:
            for close in (state.close_reader, state.close_writer, state.close_large_reader):
                close()

    (message,) = warned()
    assert message == ("feature views 'driver_pushed', 'driver_recent', 'driver_stats', 'shift_stats' have never "
                       "been materialized into this online store (sqlite): every value of them reads as NOT_FOUND")
    assert "driver_archive" not in message  # online: false
    with FeatureStore(tmp_path) as fs:
        fs.materialize(dt.datetime(2024, 4, 1), dt.datetime(2024, 6, 1), ["driver_stats"])
    (message,) = warned()
    assert message.startswith("feature views 'driver_pushed', 'driver_recent', 'shift_stats' have never been"), message
