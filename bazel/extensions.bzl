"""bzlmod module extension of quantmcu: the @quantmcu_cli repository (see cli.bzl)."""

load("//bazel:cli.bzl", _quantmcu_cli_rule = "quantmcu_cli")

def _quantmcu_cli_extension_impl(_module_ctx):
    _quantmcu_cli_rule(name = "quantmcu_cli")

quantmcu_cli = module_extension(implementation = _quantmcu_cli_extension_impl)
