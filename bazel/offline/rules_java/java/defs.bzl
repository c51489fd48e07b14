"""Offline stand-in for @rules_java//java:defs.bzl on Bazel 4: forwards to the built-in rules."""

def java_binary(**kwargs):
    # buildifier: disable=native-java-binary (forwarding to Bazel 4's built-in rule is the point)
    native.java_binary(**kwargs)

def java_library(**kwargs):
    # buildifier: disable=native-java-library (forwarding to Bazel 4's built-in rule is the point)
    native.java_library(**kwargs)

def java_import(**kwargs):
    # buildifier: disable=native-java-import (forwarding to Bazel 4's built-in rule is the point)
    native.java_import(**kwargs)

def java_test(**kwargs):
    # buildifier: disable=native-java-test (forwarding to Bazel 4's built-in rule is the point)
    native.java_test(**kwargs)

def java_toolchain(**kwargs):
    # buildifier: disable=native-java-toolchain (forwarding to Bazel 4's built-in rule is the point)
    native.java_toolchain(**kwargs)

def java_runtime(**kwargs):
    # buildifier: disable=native-java-runtime (forwarding to Bazel 4's built-in rule is the point)
    native.java_runtime(**kwargs)

def java_proto_library(**kwargs):
    # buildifier: disable=native-java-proto (forwarding to Bazel 4's built-in rule is the point)
    native.java_proto_library(**kwargs)
