"""quantmcu_model: optimize a .tflite at build time and embed it as a C array.

    load("@quantmcu//bazel:defs.bzl", "quantmcu_model")

    quantmcu_model(
        name = "person_detect",
        src = "person_detect.tflite",
        sram = "256KiB",
    )

runs `quantmcu optimize` on `src`, then `quantmcu export-c` on the optimized model, and defines

- `:person_detect`, a cc_library with `person_detect_quantmcu_model.h` / `.cc`: the optimized
  model as a 16-byte aligned array `g_person_detect_quantmcu_model_data` and its length
  `g_person_detect_quantmcu_model_data_size` (also `PERSON_DETECT_QUANTMCU_MODEL_DATA_SIZE`);
- `:person_detect_quantmcu.tflite`, the optimized model file, byte-identical to the array;
- `:person_detect_optimize.txt`, the summary `quantmcu optimize` printed (arena and MACs
  before/after, and why operators were left alone);
- `:person_detect_optimized`, all of the above plus the directory `person_detect_reports/` that
  `quantmcu optimize -o` wrote (model, summary and per-layer CSV, memory SVG, and whatever
  reports the options add; also its output group "reports").

Link the library with `@quantmcu//tfmicro_ops:quantmcu_ops` and register the op
(`quantmcu::AddQuantMcuOps(resolver)`).
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def _c_identifier(name):
    """The identifier `quantmcu export-c --name` derives: anything but [A-Za-z0-9_] becomes '_'.

    Args:
      name: a target name.

    Returns:
      The C identifier part of the generated file and symbol names.
    """
    keep = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
    out = ""
    for i in range(len(name)):
        out += name[i] if name[i] in keep else "_"
    return out

def _stem(f):
    base = f.basename
    return base[:-len(".tflite")] if base.endswith(".tflite") else base

def _quantmcu_model_files_impl(ctx):
    src = ctx.file.src
    reports = ctx.actions.declare_directory(ctx.attr.array_name + "_reports")

    args = ctx.actions.args()
    args.add("optimize")
    args.add(src)
    args.add("-o", reports.path)
    if ctx.attr.sram:
        args.add("--sram", ctx.attr.sram)
    if ctx.attr.patches:
        args.add("--patches", ctx.attr.patches)
    if ctx.attr.split:
        args.add("--split", ctx.attr.split)
    if ctx.attr.bits:
        args.add("--bits", ctx.attr.bits)
    inputs = [src]
    if ctx.file.precision:
        args.add("--precision", ctx.file.precision)
        inputs.append(ctx.file.precision)
    if ctx.files.calib:
        dirs = {f.dirname: True for f in ctx.files.calib}
        if len(dirs) != 1:
            fail("calib: all calibration files must be in one directory (got %s)" % ", ".join(sorted(dirs.keys())))
        args.add("--calib", dirs.keys()[0])
        inputs += ctx.files.calib
    args.add_all(ctx.attr.opts)

    # The summary optimize prints goes to <name>_optimize.txt, not into every build's output.
    ctx.actions.run_shell(
        command = 'log=$1; tool=$2; shift 2; "$tool" "$@" >"$log"',
        arguments = [ctx.outputs.log.path, ctx.executable.quantmcu.path, args],
        inputs = inputs,
        tools = [ctx.executable.quantmcu],
        outputs = [reports, ctx.outputs.log],
        mnemonic = "QuantmcuOptimize",
        progress_message = "quantmcu optimize %s" % src.short_path,
    )

    optimized = "%s/%s_quantmcu.tflite" % (reports.path, _stem(src))
    ctx.actions.run_shell(
        command = 'tool=$1; shift; "$tool" "$@" >/dev/null',
        arguments = [ctx.executable.quantmcu.path, "export-c", optimized, "-o", ctx.outputs.source.dirname, "--name", ctx.attr.array_name],
        inputs = [reports],
        tools = [ctx.executable.quantmcu],
        outputs = [ctx.outputs.source, ctx.outputs.header],
        mnemonic = "QuantmcuExportC",
        progress_message = "quantmcu export-c %s" % ctx.label,
    )
    ctx.actions.run_shell(
        command = 'cp "$1" "$2"',
        arguments = [optimized, ctx.outputs.model.path],
        inputs = [reports],
        outputs = [ctx.outputs.model],
        mnemonic = "QuantmcuCopyModel",
        progress_message = "copying the optimized model of %s" % ctx.label,
    )
    return [
        DefaultInfo(files = depset([ctx.outputs.source, ctx.outputs.header, ctx.outputs.model, ctx.outputs.log, reports])),
        OutputGroupInfo(reports = depset([reports, ctx.outputs.log])),
    ]

quantmcu_model_files = rule(
    implementation = _quantmcu_model_files_impl,
    doc = "The actions behind quantmcu_model; use the macro.",
    attrs = {
        "src": attr.label(allow_single_file = [".tflite"], mandatory = True, doc = "the int8 .tflite to optimize"),
        "array_name": attr.string(mandatory = True, doc = "export-c --name (a C identifier)"),
        "sram": attr.string(doc = "optimize --sram, e.g. \"256KiB\""),
        "patches": attr.string(doc = "optimize --patches: \"auto\" or \"RxC\""),
        "split": attr.string(doc = "optimize --split: layers in the patch stage"),
        "bits": attr.string(doc = "optimize --bits: uniform low-bit branch (8, 4 or 2)"),
        "precision": attr.label(allow_single_file = True, doc = "optimize --precision: a precision spec (JSON)"),
        "calib": attr.label_list(allow_files = True, doc = "calibration images, all in one directory (optimize --calib DIR)"),
        "opts": attr.string_list(doc = "further optimize arguments, e.g. [\"--set\", \"quantmcu.split=4\"]"),
        "quantmcu": attr.label(
            default = Label("@quantmcu_cli//:quantmcu"),
            executable = True,
            allow_single_file = True,
            cfg = "exec",
            doc = "the quantmcu executable",
        ),
        "source": attr.output(mandatory = True),
        "header": attr.output(mandatory = True),
        "model": attr.output(mandatory = True),
        "log": attr.output(mandatory = True),
    },
)

def quantmcu_model(
        name,
        src,
        sram = None,
        patches = None,
        split = None,
        precision = None,
        bits = None,
        calib = [],
        opts = [],
        quantmcu = None,
        visibility = None,
        tags = [],
        **kwargs):
    """Optimizes `src` with quantmcu and wraps the result in a cc_library `name`.

    Args:
      name: the cc_library; also the base of the file and symbol names (non-identifier
        characters become '_').
      src: the .tflite (a file or a rule output).
      sram: TFLM arena budget, e.g. "256KiB" (optimize --sram).
      patches: patch grid, "auto" or "RxC" (optimize --patches).
      split: number of layers in the patch stage (optimize --split).
      precision: precision spec JSON (optimize --precision).
      bits: uniform low-bit branch, 8, 4 or 2 (optimize --bits).
      calib: calibration images in one directory, passed as optimize --calib DIR (the CLI
        does not have --calib yet: until it does, setting this fails the build).
      opts: further arguments for quantmcu optimize.
      quantmcu: a prebuilt quantmcu executable (default: built from source, @quantmcu_cli).
      visibility: of the cc_library and the generated files.
      tags: for every target.
      **kwargs: passed to the cc_library (e.g. target_compatible_with, linkstatic).
    """
    ident = _c_identifier(name)
    base = ident + "_quantmcu_model"
    extra = {}
    if quantmcu:
        extra["quantmcu"] = quantmcu
    quantmcu_model_files(
        name = name + "_optimized",
        src = src,
        array_name = ident,
        sram = sram,
        patches = patches,
        split = str(split) if split != None else None,
        bits = str(bits) if bits != None else None,
        precision = precision,
        calib = calib,
        opts = opts,
        source = base + ".cc",
        header = base + ".h",
        model = ident + "_quantmcu.tflite",
        log = ident + "_optimize.txt",
        visibility = visibility,
        tags = tags,
        **extra
    )
    cc_library(
        name = name,
        srcs = [base + ".cc"],
        hdrs = [base + ".h"],
        visibility = visibility,
        tags = tags,
        **kwargs
    )
