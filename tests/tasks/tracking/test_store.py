"""The store policy: which MLflow store a door resolves, and opening it process-wide."""

from __future__ import annotations

import os

import mlflow

from tasks.tracking import store


def test_default_tracking_uri_is_the_sqlite_file_under_home(tmp_path):
    assert store.default_tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"


def test_the_store_is_the_flag_else_the_environment_else_the_home_file(tmp_path, monkeypatch):
    home_file = store.default_tracking_uri(tmp_path)
    assert store.resolve_tracking_uri(None, tmp_path) == home_file
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team-server:5000")
    assert store.resolve_tracking_uri(None, tmp_path) == "http://team-server:5000"
    assert store.resolve_tracking_uri("sqlite:///given.db", tmp_path) == "sqlite:///given.db"


def test_a_server_of_the_home_stands_in_for_its_file_only(tmp_path, monkeypatch):
    served = "http://127.0.0.1:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert store.resolve_tracking_uri(None, tmp_path, served=served) == served
    assert store.resolve_tracking_uri("sqlite:///given.db", tmp_path, served=served) == "sqlite:///given.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team-server:5000")
    assert store.resolve_tracking_uri(None, tmp_path, served=served) == "http://team-server:5000"


def test_opening_a_store_leaves_the_environment_as_the_user_set_it(tmp_path, monkeypatch):
    previous = mlflow.get_tracking_uri()
    try:
        assert store.use_tracking(store.default_tracking_uri(tmp_path / "a")) == mlflow.get_tracking_uri()
        assert "MLFLOW_TRACKING_URI" not in os.environ  # so the next entry point resolves its own home's file
        assert store.resolve_tracking_uri(None, tmp_path / "b") == store.default_tracking_uri(tmp_path / "b")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team-server:5000")
        store.use_tracking(store.default_tracking_uri(tmp_path / "a"))
        assert os.environ["MLFLOW_TRACKING_URI"] == "http://team-server:5000"
    finally:
        mlflow.set_tracking_uri(previous)
        mlflow.set_registry_uri(previous)


def test_missing_store_file_names_only_a_sqlite_file_not_there_yet(tmp_path):
    uri = store.default_tracking_uri(tmp_path)
    db = tmp_path.resolve() / "mlflow" / "mlflow.db"
    assert store.missing_store_file(uri) == db
    db.parent.mkdir(parents=True)
    db.touch()
    assert store.missing_store_file(uri) is None
    assert store.missing_store_file("http://127.0.0.1:5000") is None
