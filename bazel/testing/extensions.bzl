"""bzlmod: @quantmcu_shared_data for quantmcu's own tests (a dev_dependency of the root module)."""

load(":shared_data.bzl", _shared_data_rule = "quantmcu_shared_data")

def _shared_data_extension_impl(_module_ctx):
    _shared_data_rule(name = "quantmcu_shared_data")

quantmcu_shared_data = module_extension(implementation = _shared_data_extension_impl)
