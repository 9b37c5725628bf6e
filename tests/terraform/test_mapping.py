"""Each drifted attribute mapped to the text that sets it, or refused with its explanation.

Every case is the repository's files, the drift a ``plan -refresh-only`` reports, and either
the exact files after the edit or the exact reason a human is asked instead.  The first test
runs the mapping on a plan and a schema recorded from real OpenTofu and the real
hashicorp/kubernetes provider; the others derive the plan's configuration section from the
files the way ``tofu show -json`` does (``planbuilder``).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from breakglass.terraform import drift as drifts
from breakglass.terraform import mapping
from breakglass.terraform.hcl import Document, HclSyntaxError
from breakglass.terraform.hcledit import apply
from tests.terraform.planbuilder import FIXTURES, configuration, drift, schemas


def _workspace(
    files: Mapping[str, str], root: str, var_files: Sequence[str], env: Sequence[str]
) -> mapping.Workspace:
    docs: dict[str, Document] = {}
    broken: dict[str, str] = {}
    for path, text in files.items():
        if path.endswith(".json"):
            broken[path] = "JSON"
            continue
        try:
            docs[path] = Document.parse(text, path=path)
        except HclSyntaxError as exc:
            broken[path] = str(exc)
    return mapping.Workspace(files=docs, root=root, var_files=var_files, env=env, broken=broken)


def run(
    files: Mapping[str, str],
    entries: Sequence[dict[str, Any]],
    *,
    root: str = "",
    var_files: Sequence[str] = (),
    env: Sequence[str] = (),
) -> tuple[list[mapping.Decision], dict[str, str]]:
    """The decisions, and every file as it is after the ready decisions' edits."""
    files = {p: textwrap.dedent(t) for p, t in files.items()}
    workspace = _workspace(files, root, var_files, env)
    tf_files = {p: t for p, t in files.items() if p.endswith(".tf")}
    decisions = mapping.decide(
        drifts.drifted({"resource_drift": list(entries)}),
        configuration(tf_files, root),
        schemas(),
        workspace,
    )
    edits, failed, _ = mapping.edits(decisions)
    assert not failed, failed
    return decisions, {p: apply(files[p], edits[p]) if p in edits else files[p] for p in files}


def cm(data: Mapping[str, Any] | None = None, labels: Any = None, **meta: Any) -> dict[str, Any]:
    """A kubernetes_config_map's state."""
    return {
        "data": dict(data or {}),
        "binary_data": None,
        "id": "shop/settings",
        "metadata": [
            {
                "name": "settings",
                "namespace": "shop",
                "labels": labels,
                "annotations": meta.get("annotations"),
                "resource_version": meta.get("rv", "1"),
                "generation": 0,
                "uid": "u-1",
            }
        ],
    }


def deploy(replicas: int, images: Sequence[str] = ("web:1",), **extra: Any) -> dict[str, Any]:
    """A kubernetes_deployment's state (the parts these tests look at)."""
    return {
        "id": "shop/web",
        "metadata": [{"name": "web", "namespace": "shop", "resource_version": "1"}],
        "spec": [
            {
                "replicas": replicas,
                "template": [
                    {
                        "spec": [
                            {
                                "container": [
                                    {"name": f"c{i}", "image": image, **extra}
                                    for i, image in enumerate(images)
                                ]
                            }
                        ]
                    }
                ],
            }
        ],
        "wait_for_rollout": False,
    }


def only(decisions: list[mapping.Decision]) -> mapping.Decision:
    assert len(decisions) == 1, decisions
    return decisions[0]


def refusal(decisions: list[mapping.Decision]) -> str:
    decision = only(decisions)
    assert not decision.ready
    return "; ".join(f"{r.attribute}: {r.reason}" for r in decision.refused)


CONFIG_MAP = """\
resource "kubernetes_config_map" "settings" {
  metadata {
    name      = "settings"
    namespace = "shop"
    labels = {
      app  = "shop"  # the service
      team = "core"  // who gets paged
    }
  }
  data = {
    /* read at start-up */
    LOG_LEVEL = "info"
    TIMEOUT   = "30s"
  }
}
"""


def settings_drift(
    data: Mapping[str, Any], labels: Any = None, new_labels: Any = None, **meta: Any
) -> dict[str, Any]:
    """The drift of ``CONFIG_MAP``'s object (LOG_LEVEL info, TIMEOUT 30s) to ``data``."""
    return drift(
        "kubernetes_config_map.settings",
        cm({"LOG_LEVEL": "info", "TIMEOUT": "30s"}, labels),
        cm(data, labels if new_labels is None else new_labels, **meta),
    )


# -- a real plan ------------------------------------------------------------------------------


def test_a_recorded_refresh_only_plan_maps_to_the_expected_file() -> None:
    plan = json.loads((FIXTURES / "recorded" / "plan.json").read_text())
    text = (FIXTURES / "recorded" / "main.tf").read_text()
    workspace = mapping.Workspace(files={"main.tf": Document.parse(text, path="main.tf")}, root="")
    decisions = mapping.decide(drifts.drifted(plan), plan["configuration"], schemas(), workspace)
    assert [d.drift.address for d in decisions] == [
        "kubernetes_config_map.settings",
        "kubernetes_deployment.web",
    ]
    assert all(d.ready for d in decisions)
    assert decisions[1].ignored == ("metadata[0].generation", "metadata[0].resource_version")
    edits, failed, _ = mapping.edits(decisions)
    assert not failed
    assert apply(text, edits["main.tf"]) == (FIXTURES / "recorded" / "expected.tf").read_text()


# -- literals in the resource -----------------------------------------------------------------


def test_a_changed_map_value_is_spliced_in_place_keeping_comments_and_alignment() -> None:
    _, out = run(
        {"main.tf": CONFIG_MAP},
        [settings_drift({"LOG_LEVEL": "debug", "TIMEOUT": "30s"}, rv="2")],
    )
    assert out["main.tf"] == CONFIG_MAP.replace('LOG_LEVEL = "info"', 'LOG_LEVEL = "debug"')


def test_a_key_added_to_a_label_map_follows_its_column() -> None:
    labels = {"app": "shop", "team": "core"}
    _, out = run(
        {"main.tf": CONFIG_MAP},
        [
            settings_drift(
                {"LOG_LEVEL": "info", "TIMEOUT": "30s"}, labels, {**labels, "tier": "web"}
            )
        ],
    )
    assert out["main.tf"] == CONFIG_MAP.replace(
        '      team = "core"  // who gets paged\n',
        '      team = "core"  // who gets paged\n      tier = "web"\n',
    )


def test_a_removed_key_takes_its_line_with_it() -> None:
    _, out = run(
        {"main.tf": CONFIG_MAP},
        [settings_drift({"LOG_LEVEL": "info"})],
    )
    assert out["main.tf"] == CONFIG_MAP.replace('    TIMEOUT   = "30s"\n', "")


DEPLOYMENT = """\
resource "kubernetes_deployment" "web" {
  metadata {
    name      = "web"
    namespace = "shop"
  }
  wait_for_rollout = false
  spec {
    replicas = 2 # one per zone
    template {
      spec {
        container {
          name  = "c0"
          image = "web:1"
        }
        container {
          name  = "c1"
          image = "sidecar:1"
        }
      }
    }
  }
}
"""


def test_an_argument_of_a_nested_block_and_the_second_of_two_blocks() -> None:
    decisions, out = run(
        {"main.tf": DEPLOYMENT},
        [drift("kubernetes_deployment.web", deploy(2, ("web:1", "sidecar:1")),
               deploy(5, ("web:1", "sidecar:2")))],
    )  # fmt: skip
    assert only(decisions).ready
    assert out["main.tf"] == DEPLOYMENT.replace("replicas = 2 #", "replicas = 5 #").replace(
        '"sidecar:1"', '"sidecar:2"'
    )


def test_a_heredoc_keeps_its_marker_and_indentation() -> None:
    text = """\
    resource "kubernetes_config_map" "settings" {
      metadata {
        name      = "settings"
        namespace = "shop"
      }
      data = {
        "app.conf" = <<-EOT
          port = 8080
          mode = safe
        EOT
      }
    }
    """
    _, out = run(
        {"main.tf": text},
        [drift("kubernetes_config_map.settings", cm({"app.conf": "port = 8080\nmode = safe\n"}),
               cm({"app.conf": "port = 8080\nmode = fast\n"}))],
    )  # fmt: skip
    assert out["main.tf"] == textwrap.dedent(text).replace("mode = safe", "mode = fast")


def test_an_object_with_a_variable_and_a_literal_maps_each_key_to_its_own_text() -> None:
    files = {
        "main.tf": """\
        variable "level" {
          default = "info"
        }
        resource "kubernetes_config_map" "settings" {
          metadata {
            name      = "settings"
            namespace = "shop"
          }
          data = {
            LOG_LEVEL = var.level
            TIMEOUT   = "30s"
          }
        }
        """
    }
    decisions, out = run(
        files,
        [settings_drift({"LOG_LEVEL": "warn", "TIMEOUT": "60s"})],
    )
    assert sorted(m.target.what for m in only(decisions).mapped) == [
        "the argument in resource kubernetes_config_map.settings",
        "the default of variable level",
    ]
    expected = textwrap.dedent(files["main.tf"])
    expected = expected.replace('default = "info"', 'default = "warn"')
    assert out["main.tf"] == expected.replace('"30s"', '"60s"')


def test_a_list_that_grew_is_written_again_in_its_style() -> None:
    text = DEPLOYMENT.replace('image = "web:1"', 'image = "web:1"\n          args  = ["--a"]')
    _, out = run(
        {"main.tf": text},
        [drift("kubernetes_deployment.web", deploy(2, ("web:1", "sidecar:1")),
               deploy(2, ("web:1", "sidecar:1")))
         | {"change": {"before": _with_args(["--a"]), "after": _with_args(["--a", "--b"]),
                       "actions": ["update"]}}],
    )  # fmt: skip
    assert out["main.tf"] == text.replace('["--a"]', '["--a", "--b"]')


def _with_args(args: list[str]) -> dict[str, Any]:
    state = deploy(2, ("web:1", "sidecar:1"))
    state["spec"][0]["template"][0]["spec"][0]["container"][0]["args"] = args
    return state


# -- variables --------------------------------------------------------------------------------

VARIABLE = """\
variable "replicas" {
  type    = number
  default = 2 # one per zone
}

resource "kubernetes_deployment" "web" {
  metadata {
    name      = "web"
    namespace = "shop"
  }
  spec {
    replicas = var.replicas
  }
}
"""


def test_a_variable_used_once_gets_its_default_changed() -> None:
    decisions, out = run(
        {"main.tf": VARIABLE}, [drift("kubernetes_deployment.web", deploy(2), deploy(3))]
    )
    assert only(decisions).mapped[0].target.what == "the default of variable replicas"
    assert out["main.tf"] == VARIABLE.replace("default = 2 #", "default = 3 #")


def test_terraform_tfvars_wins_over_the_default_and_a_var_file_over_both() -> None:
    files = {
        "main.tf": VARIABLE,
        "terraform.tfvars": "replicas = 2\n",
        "a.auto.tfvars": "# zones\nreplicas = 2\n",
        "prod.tfvars": "replicas   = 2  # prod\nother      = true\n",
    }
    entries = [drift("kubernetes_deployment.web", deploy(2), deploy(4))]
    _, out = run(files, entries, var_files=("prod.tfvars",))
    assert out["prod.tfvars"] == "replicas   = 4  # prod\nother      = true\n"
    assert out["a.auto.tfvars"] == files["a.auto.tfvars"]
    _, out = run({k: v for k, v in files.items() if k != "prod.tfvars"}, entries)
    assert out["a.auto.tfvars"] == "# zones\nreplicas = 4\n"
    _, out = run({"main.tf": VARIABLE, "terraform.tfvars": "replicas = 2\n"}, entries)
    assert out["terraform.tfvars"] == "replicas = 4\n"
    assert out["main.tf"] == VARIABLE


def test_a_for_each_entry_in_a_tfvars_map() -> None:
    files = {
        "main.tf": """\
        variable "apps" {
          type = map(object({ replicas = number }))
        }
        resource "kubernetes_deployment" "web" {
          for_each = var.apps
          metadata {
            name      = each.key
            namespace = "shop"
          }
          spec {
            replicas = each.value.replicas
          }
        }
        """,
        "terraform.tfvars": """\
        apps = {
          web = { replicas = 2 }
          api = { replicas = 2 } # internal
        }
        """,
    }
    _, out = run(files, [drift('kubernetes_deployment.web["api"]', deploy(2), deploy(6))])
    assert out["terraform.tfvars"] == textwrap.dedent(files["terraform.tfvars"]).replace(
        "api = { replicas = 2 }", "api = { replicas = 6 }"
    )


def test_a_literal_for_each_map_entry() -> None:
    text = """\
    resource "kubernetes_config_map" "settings" {
      for_each = {
        eu = { level = "info" }
        us = { level = "info" } # same for now
      }
      metadata {
        name      = "settings-${each.key}"
        namespace = "shop"
      }
      data = {
        LOG_LEVEL = each.value.level
      }
    }
    """
    _, out = run(
        {"main.tf": text},
        [drift('kubernetes_config_map.settings["us"]', cm({"LOG_LEVEL": "info"}),
               cm({"LOG_LEVEL": "debug"}))],
    )  # fmt: skip
    assert out["main.tf"] == textwrap.dedent(text).replace(
        'us = { level = "info" }', 'us = { level = "debug" }'
    )


# -- module inputs ----------------------------------------------------------------------------

MODULE = """\
variable "replicas" {
  type = number
}
resource "kubernetes_deployment" "web" {
  metadata {
    name      = "web"
    namespace = "shop"
  }
  spec {
    replicas = var.replicas
  }
}
"""


def test_a_literal_module_input_in_the_calling_block() -> None:
    caller = 'module "web" {\n  source   = "./modules/web"\n  replicas = 2 # per zone\n}\n'
    decisions, out = run(
        {"main.tf": caller, "modules/web/main.tf": MODULE},
        [drift("module.web.kubernetes_deployment.web", deploy(2), deploy(3))],
    )
    assert only(decisions).mapped[0].target.what == "the input replicas of module.web"
    assert out["main.tf"] == caller.replace("replicas = 2", "replicas = 3")
    assert out["modules/web/main.tf"] == MODULE


def test_a_module_input_that_is_a_root_variable_is_followed_to_its_default() -> None:
    caller = (
        'variable "web_replicas" {\n  default = 2\n}\n'
        'module "web" {\n  source   = "./modules/web"\n  replicas = var.web_replicas\n}\n'
    )
    _, out = run(
        {"main.tf": caller, "modules/web/main.tf": MODULE},
        [drift("module.web.kubernetes_deployment.web", deploy(2), deploy(3))],
    )
    assert out["main.tf"] == caller.replace("default = 2", "default = 3")


def test_a_root_in_a_subdirectory_with_its_module_beside_it() -> None:
    caller = 'module "web" {\n  source   = "../../modules/web"\n  replicas = 2\n}\n'
    _, out = run(
        {"envs/prod/main.tf": caller, "modules/web/main.tf": MODULE},
        [drift("module.web.kubernetes_deployment.web", deploy(2), deploy(3))],
        root="envs/prod",
    )
    assert out["envs/prod/main.tf"] == caller.replace("replicas = 2", "replicas = 3")


# -- every refusal, with its explanation ------------------------------------------------------


def test_refused_a_local() -> None:
    text = CONFIG_MAP.replace('LOG_LEVEL = "info"', "LOG_LEVEL = local.level").replace(
        "resource", 'locals {\n  level = "info"\n}\nresource', 1
    )
    decisions, _ = run(
        {"main.tf": text},
        [settings_drift({"LOG_LEVEL": "debug", "TIMEOUT": "30s"})],
    )
    assert refusal(decisions) == (
        "data: set through local.level (main.tf:15); a local is an expression breakglass does "
        "not rewrite"
    )


def test_refused_a_function_call() -> None:
    text = CONFIG_MAP.replace('LOG_LEVEL = "info"', 'LOG_LEVEL = lower("INFO")')
    decisions, _ = run(
        {"main.tf": text},
        [settings_drift({"LOG_LEVEL": "debug", "TIMEOUT": "30s"})],
    )
    assert refusal(decisions) == (
        'data: computed by the expression lower("INFO") (main.tf:12); breakglass rewrites '
        "literals and variables, not expressions"
    )


def test_refused_another_resources_value() -> None:
    text = DEPLOYMENT.replace('namespace = "shop"', "namespace = kubernetes_namespace.shop.id")
    entries = [drift("kubernetes_deployment.web", deploy(2), deploy(2))]
    entries[0]["change"]["after"]["metadata"][0]["namespace"] = "other"
    decisions, _ = run({"main.tf": text}, entries)
    assert refusal(decisions) == (
        "metadata[0].namespace: comes from another object's value, kubernetes_namespace.shop.id "
        "(main.tf:4)"
    )


def test_refused_a_variable_used_twice() -> None:
    text = VARIABLE + 'output "n" {\n  value = var.replicas\n}\n'
    decisions, _ = run(
        {"main.tf": text}, [drift("kubernetes_deployment.web", deploy(2), deploy(3))]
    )
    assert refusal(decisions) == (
        "spec[0].replicas: var.replicas is used 2 times (main.tf); changing it would change "
        "more than this attribute"
    )


def test_refused_a_sensitive_variable_without_showing_it() -> None:
    text = VARIABLE.replace("type    = number", "type      = number\n  sensitive = true")
    decisions, _ = run(
        {"main.tf": text}, [drift("kubernetes_deployment.web", deploy(2), deploy(3))]
    )
    assert refusal(decisions) == (
        "spec[0].replicas: var.replicas is sensitive; its value is never written or shown"
    )


def test_refused_a_variable_given_by_the_environment() -> None:
    decisions, _ = run(
        {"main.tf": VARIABLE},
        [drift("kubernetes_deployment.web", deploy(2), deploy(3))],
        env=("TF_VAR_replicas",),
    )
    assert refusal(decisions) == (
        "spec[0].replicas: var.replicas is set by the environment variable TF_VAR_replicas"
    )


def test_refused_a_variable_given_at_run_time() -> None:
    text = VARIABLE.replace("  default = 2 # one per zone\n", "")
    decisions, _ = run(
        {"main.tf": text}, [drift("kubernetes_deployment.web", deploy(2), deploy(3))]
    )
    assert refusal(decisions) == (
        "spec[0].replicas: var.replicas has no default and no .tfvars file sets it: its value "
        "is given at run time"
    )


def test_refused_a_tfvars_json_file() -> None:
    decisions, _ = run(
        {"main.tf": VARIABLE, "prod.auto.tfvars.json": '{"replicas": 2}'},
        [drift("kubernetes_deployment.web", deploy(2), deploy(3))],
    )
    assert refusal(decisions) == (
        "spec[0].replicas: var.replicas may be set in prod.auto.tfvars.json; JSON files are not "
        "edited"
    )


def test_refused_a_tfvars_file_that_does_not_parse() -> None:
    decisions, _ = run(
        {"main.tf": VARIABLE, "terraform.tfvars": "replicas = [\n"},
        [drift("kubernetes_deployment.web", deploy(2), deploy(3))],
    )
    reason = refusal(decisions)
    assert reason.startswith("spec[0].replicas: terraform.tfvars does not parse: "), reason
    assert "terraform.tfvars:" in reason.split("does not parse: ", 1)[1]


def test_refused_a_literal_shared_by_count_instances() -> None:
    text = DEPLOYMENT.replace(
        "  wait_for_rollout = false\n", "  wait_for_rollout = false\n  count            = 2\n"
    )
    decisions, _ = run(
        {"main.tf": text},
        [drift("kubernetes_deployment.web[1]", deploy(2, ("web:1", "sidecar:1")),
               deploy(3, ("web:1", "sidecar:1")))],
    )  # fmt: skip
    assert refusal(decisions) == (
        "spec[0].replicas: kubernetes_deployment.web has count or for_each: this literal is "
        "shared by every instance"
    )


def test_refused_a_module_input_left_to_the_modules_default() -> None:
    caller = 'module "web" {\n  source = "./modules/web"\n}\n'
    module = MODULE.replace("type = number", "type    = number\n  default = 2")
    decisions, _ = run(
        {"main.tf": caller, "modules/web/main.tf": module},
        [drift("module.web.kubernetes_deployment.web", deploy(2), deploy(3))],
    )
    assert refusal(decisions) == (
        "spec[0].replicas: module.web does not set replicas (main.tf:1); the module's default "
        "is shared by every caller"
    )


def test_refused_a_repeated_module() -> None:
    caller = 'module "web" {\n  source   = "./modules/web"\n  count    = 2\n  replicas = 2\n}\n'
    decisions, _ = run(
        {"main.tf": caller, "modules/web/main.tf": MODULE},
        [drift("module.web[0].kubernetes_deployment.web", deploy(2), deploy(3))],
    )
    assert refusal(decisions) == (
        "spec[0].replicas: its module has count or for_each: the code is shared by every instance"
    )


def test_refused_a_module_from_outside_the_repository() -> None:
    caller = 'module "web" {\n  source   = "example/web/kubernetes"\n  replicas = 2\n}\n'
    decisions, _ = run(
        {"main.tf": caller, ".terraform/modules/web/main.tf": MODULE},
        [drift("module.web.kubernetes_deployment.web", deploy(2), deploy(3))],
    )
    assert refusal(decisions) == (
        "spec[0].replicas: it is in module.web, whose source example/web/kubernetes is outside "
        "the repository; only modules in the repository are edited"
    )


def test_refused_a_dynamic_block() -> None:
    text = """\
    resource "kubernetes_deployment" "web" {
      metadata {
        name      = "web"
        namespace = "shop"
      }
      spec {
        replicas = 2
        template {
          spec {
            dynamic "container" {
              for_each = ["web:1"]
              content {
                name  = "c0"
                image = container.value
              }
            }
          }
        }
      }
    }
    """
    decisions, _ = run(
        {"main.tf": text}, [drift("kubernetes_deployment.web", deploy(2), deploy(2, ("web:2",)))]
    )
    assert refusal(decisions) == (
        'spec[0].template[0].spec[0].container[0].image: generated by a dynamic "container" '
        "block (main.tf:10); breakglass does not rewrite dynamic blocks"
    )


def test_refused_an_attribute_the_code_does_not_set() -> None:
    decisions, _ = run(
        {"main.tf": CONFIG_MAP},
        [settings_drift({"LOG_LEVEL": "info", "TIMEOUT": "30s"}, annotations={"note": "hotfix"})],
    )
    assert refusal(decisions) == (
        "metadata[0].annotations: the code does not set metadata[0].annotations; plan would "
        "take the change back. If it should stay, a human adds it to the code"
    )


def test_refused_a_sensitive_attribute_and_its_value_appears_nowhere() -> None:
    text = """\
    resource "kubernetes_secret" "token" {
      metadata {
        name      = "token"
        namespace = "shop"
      }
      data = {
        token = "old"
      }
    }
    """
    secret = {"metadata": [{"name": "token", "namespace": "shop"}], "type": "Opaque"}
    entry = drift(
        "kubernetes_secret.token",
        {**secret, "data": {"token": "old"}},
        {**secret, "data": {"token": "CANARY-new"}},
        before_sensitive={"data": True},
        after_sensitive={"data": True},
    )
    decisions, out = run({"main.tf": text}, [entry])
    assert refusal(decisions) == "data: sensitive: never written, shown or stored"
    decision = only(decisions)
    assert all(c.before is None and c.after is None for r in decision.refused for c in r.changes)
    assert "CANARY" not in repr(decision) and out["main.tf"] == textwrap.dedent(text)


def test_refused_a_resource_deleted_by_hand() -> None:
    decisions, _ = run(
        {"main.tf": CONFIG_MAP}, [drift("kubernetes_config_map.settings", cm({}), None)]
    )
    assert refusal(decisions) == (
        "(the whole resource): deleted outside OpenTofu/Terraform: plan would create it again; "
        "either apply to recreate it or remove it from the code (and the state)"
    )


def test_one_refused_attribute_holds_back_the_whole_resource() -> None:
    decisions, out = run(
        {"main.tf": CONFIG_MAP},
        [settings_drift({"LOG_LEVEL": "debug", "TIMEOUT": "30s"}, annotations={"note": "x"})],
    )
    decision = only(decisions)
    assert decision.mapped and decision.refused and not decision.ready
    assert out["main.tf"] == CONFIG_MAP  # nothing edited for a resource that is not ready


def test_only_computed_attributes_moved_is_no_drift() -> None:
    decisions, _ = run(
        {"main.tf": CONFIG_MAP},
        [settings_drift({"LOG_LEVEL": "info", "TIMEOUT": "30s"}, rv="9")],
    )
    assert decisions == []


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (("data", "LOG_LEVEL"), 'data["LOG_LEVEL"]'),
        (("spec", 0, "replicas"), "spec[0].replicas"),
        (("metadata", 0, "labels", "app.kubernetes.io/name"), 'metadata[0].labels["app.kubernetes.io/name"]'),
    ],
)  # fmt: skip
def test_paths_are_shown_the_way_plan_shows_them(path: tuple[Any, ...], shown: str) -> None:
    assert drifts.path_text(path) == shown


def test_refused_code_of_a_module_called_twice() -> None:
    caller = (
        'module "web" {\n  source   = "./modules/web"\n  replicas = 2\n}\n'
        'module "api" {\n  source   = "./modules/web"\n  replicas = 2\n}\n'
    )
    module = MODULE.replace("  spec {\n", "  spec {\n    revision_history_limit = 10\n")
    before, after = deploy(2), deploy(2)
    before["spec"][0]["revision_history_limit"] = 10
    after["spec"][0]["revision_history_limit"] = 3
    decisions, _ = run(
        {"main.tf": caller, "modules/web/main.tf": module},
        [drift("module.api.kubernetes_deployment.web", before, after)],
    )
    assert refusal(decisions) == (
        "spec[0].revision_history_limit: the code of modules/web/ is shared by 2 module calls "
        "(module.web, module.api); changing it would change all of them"
    )
    # its input in the calling block is its own: still mapped
    decisions, out = run(
        {"main.tf": caller, "modules/web/main.tf": module},
        [drift("module.api.kubernetes_deployment.web", deploy(2), deploy(4))],
    )
    assert only(decisions).ready
    assert out["main.tf"].endswith(
        'module "api" {\n  source   = "./modules/web"\n  replicas = 4\n}\n'
    )


def test_a_literal_key_beside_a_function_call_is_still_mapped() -> None:
    text = CONFIG_MAP.replace('TIMEOUT   = "30s"', 'TIMEOUT   = upper("30s")')
    decisions, out = run(
        {"main.tf": text},
        [drift("kubernetes_config_map.settings", cm({"LOG_LEVEL": "info", "TIMEOUT": "30S"}),
               cm({"LOG_LEVEL": "debug", "TIMEOUT": "60S"}))],
    )  # fmt: skip
    decision = only(decisions)
    assert [c.path for m in decision.mapped for c in m.changes] == [("data", "LOG_LEVEL")]
    assert refusal(decisions) == (
        'data: computed by the expression upper("30s") (main.tf:13); breakglass rewrites '
        "literals and variables, not expressions"
    )
    assert [c.path for r in decision.refused for c in r.changes] == [("data", "TIMEOUT")]
    assert out["main.tf"] == text  # the resource as a whole still goes to a human


def test_refused_an_added_nested_block_with_what_happened() -> None:
    before = deploy(2, ("web:1", "sidecar:1"))
    after = deploy(2, ("web:1", "sidecar:1"))
    after["spec"][0]["template"][0]["spec"][0]["container"][0]["env"] = [
        {"name": "A", "value": "1"}
    ]
    decisions, _ = run({"main.tf": DEPLOYMENT}, [drift("kubernetes_deployment.web", before, after)])
    assert refusal(decisions) == (
        "spec[0].template[0].spec[0].container[0].env: spec[0].template[0].spec[0].container[0].env "
        "blocks were added (0 → 1); breakglass edits the arguments of blocks the code has, it does "
        "not add or remove blocks"
    )
