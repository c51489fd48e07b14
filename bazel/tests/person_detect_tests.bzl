"""quantmcu_model on person_detect (from ../shared/data) and its checks; nothing without the data."""

load("@quantmcu_shared_data//:defs.bzl", "HAVE_SHARED_DATA")
load("@rules_cc//cc:defs.bzl", "cc_test")
load("@rules_shell//shell:sh_test.bzl", "sh_test")
load("//bazel:defs.bzl", "quantmcu_model")

_MODEL = "@quantmcu_shared_data//:models/person_detect.tflite"

def person_detect_tests(name, cases):
    """Per case: quantmcu_model, an array check and a comparison with the CLI run directly.

    Args:
      name: a test_suite of all the tests.
      cases: dict from target name to the optimize options of that case.
    """
    tests = []
    for case, options in (cases.items() if HAVE_SHARED_DATA else []):
        tests += [":%s_array_test" % case, ":%s_matches_cli_test" % case]
        _case(case, options)
    native.test_suite(
        name = name,
        tests = tests,
    )

def _case(name, options):
    quantmcu_model(
        name = name,
        src = _MODEL,
        opts = options,
    )
    cc_test(
        name = name + "_array_test",
        size = "small",
        srcs = ["array_test.cc"],
        args = ["$(location :%s_quantmcu.tflite)" % name],
        data = [":%s_quantmcu.tflite" % name],
        local_defines = [
            "MODEL_HEADER='\"bazel/tests/%s_quantmcu_model.h\"'" % name,
            "MODEL_DATA=g_%s_quantmcu_model_data" % name,
            "MODEL_SIZE=g_%s_quantmcu_model_data_size" % name,
            "MODEL_SIZE_MACRO=%s_QUANTMCU_MODEL_DATA_SIZE" % name.upper(),
        ],
        deps = [":" + name],
    )
    sh_test(
        name = name + "_matches_cli_test",
        size = "small",
        srcs = ["matches_cli_test.sh"],
        args = [
            "$(location @quantmcu_cli//:quantmcu)",
            "$(location %s)" % _MODEL,
            "$(location :%s_quantmcu.tflite)" % name,
            "$(location :%s_quantmcu_model.cc)" % name,
            name,
        ] + options,
        data = [
            _MODEL,
            ":%s_quantmcu.tflite" % name,
            ":%s_quantmcu_model.cc" % name,
            "@quantmcu_cli//:quantmcu",
        ],
    )
