"""@quantmcu_shared_data: the project's real third-party test models, when present.

Tests read them from ../shared/data next to the checkout (or $QUANTMCU_SHARED_DATA) and never
copy them into the repository. The repository links the few files the Bazel tests use and
writes defs.bzl with HAVE_SHARED_DATA, so BUILD files can skip those tests when they are absent.
"""

_FILES = [
    "models/person_detect.tflite",
    "inputs/person_96x96x1_int8.raw",
]

def _impl(rctx):
    root = rctx.os.environ.get("QUANTMCU_SHARED_DATA", "")
    if not root:
        root = str(rctx.path(Label("//:go.mod")).dirname.dirname) + "/shared/data"
    have = True
    for f in _FILES:
        p = rctx.path(root + "/" + f)
        if p.exists:
            rctx.symlink(p, f)
        else:
            have = False
    rctx.file("defs.bzl", "HAVE_SHARED_DATA = %s\nSHARED_DATA_DIR = %r\n" % (have, root))
    rctx.file("BUILD.bazel", "exports_files(%r, visibility = [\"//visibility:public\"])\n" % (_FILES if have else []))

quantmcu_shared_data = repository_rule(
    implementation = _impl,
    environ = ["QUANTMCU_SHARED_DATA"],
    local = True,
)
