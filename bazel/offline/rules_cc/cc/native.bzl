"""Bazel 4 built-in C++ providers, under names defs.bzl can re-export."""

NATIVE_CC_INFO = CcInfo
NATIVE_CC_COMMON = cc_common
