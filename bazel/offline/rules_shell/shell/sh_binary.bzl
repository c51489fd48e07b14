"""Offline stand-in for @rules_shell//shell:sh_binary.bzl on Bazel 4."""

def sh_binary(**kwargs):
    # buildifier: disable=native-sh-binary (forwarding to Bazel 4's built-in rule is the point)
    native.sh_binary(**kwargs)
