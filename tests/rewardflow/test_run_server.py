"""`rewardflow run` without a Prefect server: its temporary server's settings (the kill -9 test is in tests/faults)."""

from __future__ import annotations

from prefect import settings

from rewardflow import run_cmd


def test_the_temporary_server_keeps_its_database_in_the_home_and_is_given_time(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", raising=False)
    monkeypatch.delenv("PREFECT_SERVER_DATABASE_TIMEOUT", raising=False)
    monkeypatch.delenv("PREFECT_API_DATABASE_TIMEOUT", raising=False)
    updates = run_cmd.temporary_server_settings(str(tmp_path))
    database = tmp_path.resolve() / "prefect" / "prefect.db"
    assert updates[settings.PREFECT_API_DATABASE_CONNECTION_URL] == f"sqlite+aiosqlite:///{database}"
    assert updates[settings.PREFECT_API_DATABASE_TIMEOUT] == 60.0 and database.parent.is_dir()
    assert run_cmd.startup_timeout() == 180


def test_the_user_s_prefect_settings_win(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "45")
    monkeypatch.setenv("PREFECT_SERVER_DATABASE_TIMEOUT", "5")
    assert run_cmd.startup_timeout() == 45
    assert settings.PREFECT_API_DATABASE_TIMEOUT not in run_cmd.temporary_server_settings(str(tmp_path))
