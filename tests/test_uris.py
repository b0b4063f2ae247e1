"""Registry URIs as output shows them: pure string work, no environment read."""

from __future__ import annotations

from controller.uris import ui_base, without_userinfo


def test_userinfo_runs_to_the_last_at_sign_before_the_path() -> None:
    assert without_userinfo("https://ann:p@ss@ml.example/x@y") == "https://ml.example/x@y"


def test_a_redacted_userinfo_goes_too() -> None:
    assert without_userinfo("http://***@mlflow:5000") == "http://mlflow:5000"


def test_the_ui_is_the_http_address_without_credentials_query_or_trailing_slash() -> None:
    assert ui_base("https://u:p@ml.example/mlflow/?token=t") == "https://ml.example/mlflow"


def test_stores_and_other_schemes_have_no_ui() -> None:
    assert ui_base("sqlite:///mlflow.db") is None
    assert ui_base("databricks://profile") is None
    assert ui_base("http:///no-host") is None
