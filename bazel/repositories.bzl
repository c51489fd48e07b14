"""WORKSPACE setup for quantmcu (Bazel without bzlmod).

    load("@quantmcu//bazel:repositories.bzl", "quantmcu_repositories")
    quantmcu_repositories()
"""

load("//bazel:cli.bzl", "quantmcu_cli")

def quantmcu_repositories():
    """Declares @quantmcu_cli, the CLI that quantmcu_model runs."""
    if not native.existing_rule("quantmcu_cli"):
        quantmcu_cli(name = "quantmcu_cli")
