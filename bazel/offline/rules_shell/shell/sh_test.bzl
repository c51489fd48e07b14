"""Offline stand-in for @rules_shell//shell:sh_test.bzl on Bazel 4."""

def sh_test(**kwargs):
    native.sh_test(**kwargs)
