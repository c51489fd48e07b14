"""Offline stand-in for @rules_cc//cc:defs.bzl on Bazel 4: forwards to the built-in C++ rules."""

load(":native.bzl", "NATIVE_CC_COMMON", "NATIVE_CC_INFO")

CcInfo = NATIVE_CC_INFO
cc_common = NATIVE_CC_COMMON

def cc_library(**kwargs):
    # buildifier: disable=native-cc-library (forwarding to Bazel 4's built-in rule is the point)
    native.cc_library(**kwargs)

def cc_binary(**kwargs):
    # buildifier: disable=native-cc-binary (forwarding to Bazel 4's built-in rule is the point)
    native.cc_binary(**kwargs)

def cc_test(**kwargs):
    # buildifier: disable=native-cc-test (forwarding to Bazel 4's built-in rule is the point)
    native.cc_test(**kwargs)

def cc_import(**kwargs):
    # buildifier: disable=native-cc-import (forwarding to Bazel 4's built-in rule is the point)
    native.cc_import(**kwargs)

def cc_toolchain(**kwargs):
    # buildifier: disable=native-cc-toolchain (forwarding to Bazel 4's built-in rule is the point)
    native.cc_toolchain(**kwargs)

def cc_toolchain_suite(**kwargs):
    # buildifier: disable=native-cc-toolchain-suite (forwarding to Bazel 4's built-in rule is the point)
    native.cc_toolchain_suite(**kwargs)

def cc_proto_library(**kwargs):
    # buildifier: disable=native-cc-proto (forwarding to Bazel 4's built-in rule is the point)
    native.cc_proto_library(**kwargs)

def objc_library(**kwargs):
    # buildifier: disable=native-cc-objc-library (forwarding to Bazel 4's built-in rule is the point)
    native.objc_library(**kwargs)
