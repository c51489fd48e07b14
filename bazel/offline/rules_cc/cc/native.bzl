"""Bazel 4 built-in C++ providers, under names defs.bzl can re-export."""

# buildifier: disable=native-cc-info
NATIVE_CC_INFO = CcInfo

# buildifier: disable=native-cc-common
NATIVE_CC_COMMON = cc_common
