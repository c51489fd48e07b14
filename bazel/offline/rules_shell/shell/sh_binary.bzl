"""Offline stand-in for @rules_shell//shell:sh_binary.bzl on Bazel 4."""

def sh_binary(**kwargs):
    native.sh_binary(**kwargs)
