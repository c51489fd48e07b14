"""Offline stand-in for @rules_shell//shell:sh_test.bzl on Bazel 4."""

def sh_test(**kwargs):
    # buildifier: disable=native-sh-test (forwarding to Bazel 4's built-in rule is the point)
    native.sh_test(**kwargs)
