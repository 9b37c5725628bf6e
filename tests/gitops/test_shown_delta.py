"""What a "needs a human" issue shows of a change: which Secret keys changed, never values."""

from __future__ import annotations

from breakglass.gitops import engine, index

SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
stringData:
  user: app
  password: hunter2
"""


def secret(data: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        "data": data,
    }


def test_a_plain_secret_change_says_per_key_what_happened(tmp_path):
    (tmp_path / "secret.yaml").write_text(SECRET)
    idx = index.Index.build(tmp_path)
    old = secret({"user": "<redacted:aaaa>", "password": "<redacted:bbbb>"})
    new = secret(
        {"user": "<redacted:aaaa>", "password": "<redacted:cccc>", "token": "<redacted:dd>"}
    )
    del new["data"]["user"]
    result = engine.backfill(idx, old, new)
    assert isinstance(result, engine.CannotExpress)
    shown = result.delta
    assert 'password: "<redacted: changed>"' in shown
    assert 'token: "<redacted: added>"' in shown
    assert 'user: "<redacted: removed>"' in shown
    assert "bbbb" not in shown and "cccc" not in shown
    assert "hunter2" not in shown


def test_a_redacted_env_value_is_refused_and_named(tmp_path):
    (tmp_path / "deploy.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
        "spec:\n  template:\n    spec:\n      containers:\n        - name: app\n"
        "          env:\n            - {name: API_TOKEN, value: old}\n"
    )
    idx = index.Index.build(tmp_path)

    def deploy(value: str) -> dict:
        env = [{"name": "API_TOKEN", "value": value}]
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "env": env}]}}},
        }

    result = engine.backfill(idx, deploy("<redacted:1111>"), deploy("<redacted:2222>"))
    assert isinstance(result, engine.CannotExpress)
    assert result.reason.startswith(
        "spec.template.spec.containers[name=app].env[name=API_TOKEN].value: the new value looks "
        "secret"
    )
    assert (tmp_path / "deploy.yaml").read_text().count("old") == 1
