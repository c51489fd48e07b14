package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/interp"
)

const inspectHelp = `Reads MODEL (a .tflite file, or builtin:mobilenetv2-demo) and describes subgraph 0 as
TensorFlow Lite Micro will run it: one row per operator in execution order, then totals,
inputs and outputs.

Columns:
  #          operator index (execution order)
  op         builtin operator, or CUSTOM("name")
  output     shape and type of the operator's output tensor(s)
  MACs       multiply-accumulates: CONV_2D out x kh x kw x in_ch/groups; DEPTHWISE_CONV_2D
             out x kh x kw; FULLY_CONNECTED out x in features; ADD/SUB/MUL out; AVERAGE/MAX_POOL_2D
             out x filter area; MEAN input elements; every other operator 0
  weights    bytes of the operator's constant inputs (filters, biases, shape operands)
  live       bytes of activation tensors (and kernel scratch) that must be in RAM while the
             operator runs, as TFLM's lifetimes define them
  note       why an operator was not analysed (custom or unknown operators are listed, flagged,
             and never fatal)

Totals:
  parameters   elements of all constant tensors; weight bytes: their size in the model
  peak live    the largest "live" value and its operator: a lower bound for any memory plan
  peak activation memory
               the arena head TFLM's greedy memory planner reserves for activations and
               scratch (16-byte aligned buffers, TFLM's placement order and rules, offline
               plans honoured: "offline plan" then gives the buffers it places and the head
               without it), and the operator that sets it. It equals the
               non-persistent part of arena_used_bytes() of a TFLM build with reference
               kernels (CMSIS-NN kernels request more scratch: --kernels cmsis-nn).
  persistent tail
               what TFLM allocates besides, from the arena's end: its allocator and planner,
               TfLiteEvalTensors, nodes, builtin parameters, kernel op data (per-channel
               multipliers, ...), scratch handles, input/output TfLiteTensors; for the build
               --target (cortex-m: 32-bit Arm, default; host64: 64-bit Linux) with --kernels
               (reference, default; cmsis-nn)
  whole arena  head + tail: what MicroInterpreter::arena_used_bytes() reports, and the size
               to declare (rounded up to 16; an arena of exactly used bytes may not fit)

Formats: table (aligned text, default), csv (the per-operator table with one header row),
json (everything, indented; top-level keys ops, macs, weight_bytes, params,
peak_activation_bytes, peak_op, peak_live_bytes, peak_live_op, arena_bytes,
arena_tail_bytes, arena_total_bytes, arena_declare_bytes, offline_plan_buffers and
arena_bytes_online (with an offline plan), target, kernels, inputs,
outputs, tensors, warnings, interpreter_unsupported, model).

Before the warnings, the table lists the operators the host interpreter (run, eval,
calibration) cannot execute yet, each with the reason it refuses them; JSON has them as
interpreter_unsupported (index, op, reason; empty when it runs every operator).

A file that is not a valid model exits with status 2 and one line naming the file and the
problem.`

func inspectCommand() *Command {
	return &Command{
		Name:    "inspect",
		Summary: "describe a .tflite model: operators, MACs, weights, activation memory",
		Usage:   "inspect MODEL [--format table|csv|json] [--target cortex-m|host64] [--kernels reference|cmsis-nn]",
		Help:    inspectHelp,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringP("format", "f", "table", "output format: table, csv or json")
			fs.String("target", string(analysis.TargetCortexM), "TFLM build the arena is predicted for: cortex-m or host64")
			fs.String("kernels", string(analysis.KernelsReference), "TFLM kernels: reference or cmsis-nn")
		},
		Run: runInspect,
	}
}

func runInspect(env *Env, fs *pflag.FlagSet, args []string) (err error) {
	format, _ := fs.GetString("format")
	switch format {
	case "table", "csv", "json":
	default:
		return BadInputf("--format %q: want table, csv or json", format)
	}
	if len(args) != 1 {
		return BadInputf("want exactly one MODEL argument, got %d; run 'quantmcu help inspect'", len(args))
	}
	targetFlag, _ := fs.GetString("target")
	kernelsFlag, _ := fs.GetString("kernels")
	target, err := analysis.ParseTarget(targetFlag)
	if err != nil {
		return BadInputf("--target: %v", err)
	}
	kernels, err := analysis.ParseKernels(kernelsFlag, target)
	if err != nil {
		return BadInputf("--kernels: %v", err)
	}
	m, _, loadWarnings, err := LoadModelWithWarnings(args[0])
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error while analysing %s: %v", args[0], r)
		}
	}()
	rep, err := analysis.AnalyzeWith(m, analysis.Options{Custom: patch.DescribeCustomOpFor(target), Target: target, Kernels: kernels})
	if err != nil {
		return BadInput(fmt.Errorf("%s: %w", args[0], err))
	}
	doc := newInspectDoc(args[0], rep)
	doc.PatchStages = patchStages(m)
	if doc.InterpreterUnsupported, err = interp.Unsupported(m); err != nil {
		return BadInput(fmt.Errorf("%s: %w", args[0], err))
	}
	doc.Warnings = append(loadWarnings, doc.Warnings...)
	switch format {
	case "json":
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	case "csv":
		return writeInspectCSV(env.Stdout, doc)
	}
	return writeInspectTable(env.Stdout, doc)
}

// inspectDoc is the JSON form of `quantmcu inspect`. Scripts depend on the key names: add
// keys, never rename them.
type inspectDoc struct {
	Model               string       `json:"model"`
	Ops                 []inspectOp  `json:"ops"`
	MACs                int64        `json:"macs"`
	WeightBytes         int64        `json:"weight_bytes"`
	Params              int64        `json:"params"`
	PeakActivationBytes int64        `json:"peak_activation_bytes"`
	PeakOp              int          `json:"peak_op"`
	PeakLiveBytes       int64        `json:"peak_live_bytes"`
	PeakLiveOp          int          `json:"peak_live_op"`
	ArenaBytes          int64        `json:"arena_bytes"`
	ArenaTailBytes      int64        `json:"arena_tail_bytes"`
	ArenaTotalBytes     int64        `json:"arena_total_bytes"`
	ArenaDeclareBytes   int64        `json:"arena_declare_bytes"`
	Target              string       `json:"target"`
	Kernels             string       `json:"kernels"`
	Inputs              []inspectTen `json:"inputs"`
	Outputs             []inspectTen `json:"outputs"`
	Tensors             []inspectTen `json:"tensors"`
	Warnings            []string     `json:"warnings"`
	// PatchStages describes the QMCU_PATCH_STAGE operators (absent when there are none).
	PatchStages []inspectStage `json:"patch_stages,omitempty"`
	// InterpreterUnsupported lists the operators tflite/interp cannot run (empty if none).
	InterpreterUnsupported []interp.OpProblem `json:"interpreter_unsupported"`

	// OfflinePlanBuffers counts the buffers the model's OfflineMemoryAllocation plan places,
	// ArenaBytesOnline the head TFLM would plan without it (both absent without a plan).
	OfflinePlanBuffers int   `json:"offline_plan_buffers,omitempty"`
	ArenaBytesOnline   int64 `json:"arena_bytes_online,omitempty"`
}

type inspectOp struct {
	Index        int     `json:"index"`
	Op           string  `json:"op"`
	CustomCode   string  `json:"custom_code,omitempty"`
	Inputs       []int32 `json:"inputs"`
	Outputs      []int32 `json:"outputs"`
	OutputShape  []int32 `json:"output_shape"`
	OutputType   string  `json:"output_type"`
	MACs         int64   `json:"macs"`
	WeightBytes  int64   `json:"weight_bytes"`
	LiveBytes    int64   `json:"live_bytes"`
	LiveTensors  []int   `json:"live_tensors"`
	ScratchBytes int64   `json:"scratch_bytes"`
	ArenaTop     int64   `json:"arena_top"`
	Flag         string  `json:"flag,omitempty"`
}

type inspectTen struct {
	Index        int           `json:"index"`
	Name         string        `json:"name"`
	Shape        []int32       `json:"shape"`
	Type         string        `json:"type"`
	Bytes        int64         `json:"bytes"`
	Constant     bool          `json:"constant"`
	Variable     bool          `json:"variable,omitempty"`
	Quantization *inspectQuant `json:"quantization,omitempty"`
	FirstOp      int           `json:"first_op"`
	LastOp       int           `json:"last_op"`
	ArenaOffset  int64         `json:"arena_offset"`
}

type inspectQuant struct {
	Scale     float64 `json:"scale"`
	ZeroPoint int64   `json:"zero_point"`
	Channels  int     `json:"channels"`
	Axis      int     `json:"axis"`
}

func newInspectDoc(model string, r *analysis.Report) *inspectDoc {
	d := &inspectDoc{
		Model: model, MACs: r.MACs, WeightBytes: r.WeightBytes, Params: r.Params,
		PeakActivationBytes: r.ArenaBytes, PeakOp: r.ArenaOp,
		ArenaTailBytes: r.Tail.Bytes, ArenaTotalBytes: r.TotalBytes, ArenaDeclareBytes: analysis.DeclareBytes(r.TotalBytes),
		Target: string(r.Target), Kernels: string(r.Kernels),
		PeakLiveBytes: r.PeakLiveBytes, PeakLiveOp: r.PeakLiveOp, ArenaBytes: r.ArenaBytes,
		Ops: []inspectOp{}, Warnings: []string{},
	}
	if r.OfflineBuffers > 0 {
		d.OfflinePlanBuffers, d.ArenaBytesOnline = r.OfflineBuffers, r.OnlineArenaBytes
	}
	d.Warnings = append(d.Warnings, r.Warnings...)
	ten := func(t analysis.TensorInfo) inspectTen {
		out := inspectTen{Index: t.Index, Name: t.Name, Shape: t.Shape, Type: t.Type, Bytes: t.Bytes,
			Constant: t.Constant, Variable: t.Variable, FirstOp: t.FirstOp, LastOp: t.LastOp, ArenaOffset: t.Offset}
		if out.Shape == nil {
			out.Shape = []int32{}
		}
		if q := t.Quant; q != nil {
			out.Quantization = &inspectQuant{Scale: q.Scale, ZeroPoint: q.ZeroPoint, Channels: q.Channels, Axis: q.Axis}
		}
		return out
	}
	tens := func(ts []analysis.TensorInfo) []inspectTen {
		out := make([]inspectTen, len(ts))
		for i, t := range ts {
			out[i] = ten(t)
		}
		return out
	}
	d.Inputs, d.Outputs, d.Tensors = tens(r.Inputs), tens(r.Outputs), tens(r.Tensors)
	for _, op := range r.Ops {
		o := inspectOp{
			Index: op.Index, Op: op.Name, CustomCode: op.Custom, Inputs: op.Inputs, Outputs: op.Outputs,
			MACs: op.MACs, WeightBytes: op.WeightBytes, LiveBytes: op.LiveBytes, LiveTensors: op.Live,
			ScratchBytes: op.ScratchBytes, ArenaTop: op.ArenaTop, Flag: op.Flag, OutputShape: []int32{},
		}
		if o.Inputs == nil {
			o.Inputs = []int32{}
		}
		if o.Outputs == nil {
			o.Outputs = []int32{}
		}
		if o.LiveTensors == nil {
			o.LiveTensors = []int{}
		}
		if len(op.Outputs) > 0 {
			t := r.Tensors[op.Outputs[0]]
			if t.Shape != nil {
				o.OutputShape = t.Shape
			}
			o.OutputType = t.Type
		}
		d.Ops = append(d.Ops, o)
	}
	return d
}

// outputDesc renders an operator's outputs for the table: "[1,48,48,8] INT8", several
// outputs separated by spaces.
func outputDesc(d *inspectDoc, op inspectOp) (shape, dtype string) {
	var shapes, types []string
	for _, ti := range op.Outputs {
		t := d.Tensors[ti]
		shapes = append(shapes, tflite.FormatShape(t.Shape))
		types = append(types, t.Type)
	}
	return strings.Join(shapes, " "), strings.Join(types, " ")
}

func writeInspectCSV(w io.Writer, d *inspectDoc) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"index", "op", "output_shape", "output_type", "macs", "weight_bytes", "live_bytes", "scratch_bytes", "arena_top", "note"})
	for _, op := range d.Ops {
		shape, dtype := outputDesc(d, op)
		_ = cw.Write([]string{strconv.Itoa(op.Index), op.Op, shape, dtype,
			strconv.FormatInt(op.MACs, 10), strconv.FormatInt(op.WeightBytes, 10),
			strconv.FormatInt(op.LiveBytes, 10), strconv.FormatInt(op.ScratchBytes, 10),
			strconv.FormatInt(op.ArenaTop, 10), op.Flag})
	}
	cw.Flush()
	return cw.Error()
}

func writeInspectTable(w io.Writer, d *inspectDoc) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "%s: %d operators, %d tensors\n\n", d.Model, len(d.Ops), len(d.Tensors))
	var ops table
	ops.row("#\top\toutput\ttype\tMACs\tweights\tlive\tnote")
	for _, op := range d.Ops {
		shape, dtype := outputDesc(d, op)
		ops.row("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s", op.Index, op.Op, shape, dtype,
			grouped(op.MACs), grouped(op.WeightBytes), grouped(op.LiveBytes), op.Flag)
	}
	ops.writeTo(ew)

	opName := func(i int) string {
		if i < 0 || i >= len(d.Ops) {
			return "no operator"
		}
		return fmt.Sprintf("op %d (%s)", i, d.Ops[i].Op)
	}
	fmt.Fprintln(ew)
	var totals table
	totals.row("parameters\t%s", grouped(d.Params))
	totals.row("MACs\t%s", grouped(d.MACs))
	totals.row("weight bytes\t%s", grouped(d.WeightBytes))
	totals.row("peak live activations\t%s B at %s", grouped(d.PeakLiveBytes), opName(d.PeakLiveOp))
	totals.row("peak activation memory\t%s B set at %s (TFLM arena head, greedy plan)", grouped(d.PeakActivationBytes), opName(d.PeakOp))
	if d.OfflinePlanBuffers > 0 {
		totals.row("offline plan\t%d buffers at fixed offsets (OfflineMemoryAllocation); %s B planned online", d.OfflinePlanBuffers, grouped(d.ArenaBytesOnline))
	}
	totals.row("persistent tail\t%s B (%s, %s kernels)", grouped(d.ArenaTailBytes), d.Target, d.Kernels)
	totals.row("whole arena\t%s B (arena_used_bytes); declare %s B", grouped(d.ArenaTotalBytes), grouped(d.ArenaDeclareBytes))
	totals.writeTo(ew)

	for _, sec := range []struct {
		title string
		ts    []inspectTen
	}{{"inputs", d.Inputs}, {"outputs", d.Outputs}} {
		fmt.Fprintf(ew, "\n%s:\n", sec.title)
		var tt table
		for _, t := range sec.ts {
			tt.row("  %d\t%s\t%s\t%s\t%s", t.Index, oneCell(tflite.ShortName(t.Name)), t.Type, tflite.FormatShape(t.Shape), quantDesc(t.Quantization))
		}
		tt.writeTo(ew)
	}
	writeStages(ew, d.PatchStages)
	writeUnsupported(ew, d.InterpreterUnsupported)
	if len(d.Warnings) > 0 {
		fmt.Fprintln(ew, "\nwarnings:")
		for _, s := range d.Warnings {
			fmt.Fprintf(ew, "  %s\n", s)
		}
	}
	return ew.err
}

// writeUnsupported says which operators the host interpreter cannot run.
func writeUnsupported(w io.Writer, ps []interp.OpProblem) {
	if len(ps) == 0 {
		fmt.Fprintln(w, "\nhost interpreter (run, eval, calibration): runs every operator")
		return
	}
	fmt.Fprintf(w, "\nhost interpreter (run, eval, calibration) cannot run %d operator(s):\n", len(ps))
	for _, p := range ps {
		fmt.Fprintf(w, "  op %d (%s): %s\n", p.Index, p.Op, p.Reason)
	}
}

func quantDesc(q *inspectQuant) string {
	if q == nil {
		return "not quantized"
	}
	s := fmt.Sprintf("scale %.6g zero point %d", q.Scale, q.ZeroPoint)
	if q.Channels > 1 {
		s += fmt.Sprintf(" (first of %d channels, axis %d)", q.Channels, q.Axis)
	}
	return s
}

// oneCell makes s safe as one table cell: tabs and line breaks become spaces.
func oneCell(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// grouped formats n with thousands separators: 7160192 -> 7,160,192.
func grouped(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// table collects tab-separated rows and writes them aligned, without the trailing spaces
// tabwriter leaves on lines whose last cells are empty.
type table struct{ buf bytes.Buffer }

func (t *table) row(format string, args ...any) { fmt.Fprintf(&t.buf, format+"\n", args...) }

func (t *table) writeTo(w io.Writer) {
	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
	tw.Write(t.buf.Bytes())
	tw.Flush()
	for line := range strings.Lines(out.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
}

// errWriter remembers the first write error so that a report can be written with plain
// Fprintf calls and checked once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
