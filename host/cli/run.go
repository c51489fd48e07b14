package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/atomicfile"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/tensorio"
)

const preprocessHelp = `Inputs are raw tensor bytes (any extension; the size must be the tensor's), NumPy .npy
arrays (same dtype and element count as the tensor, C order), or images (.png, .jpg,
.jpeg, .bmp). Images go through this pipeline:
  1. decode as PIL.Image.open + convert("RGB") do: JPEGs with libjpeg-turbo, Pillow's
     decoder (loaded at run time; without it Go's decoder stands in, with a warning, and
     some pixels differ by one step); gray for 1-channel tensors or --grayscale (Pillow's
     L weights);
  2. --resize shorter (default): scale keeping the aspect ratio so the shorter side is
     --resize-to (default: just cover the tensor), then cut the centre HxW window;
     direct: stretch to HxW; none: the image must be HxW already. Resampling is bilinear
     with Pillow's antialiasing when downscaling (Image.resize(..., BILINEAR));
  3. channel order (--bgr) and layout (NHWC or NCHW, from the tensor shape unless --layout);
  4. v = x/255 ("0..1", default), x ("0..255") or x/127.5-1 ("-1..1") per --range, or
     v = (x/255 - mean)/std per channel with --mean/--std;
  5. q = clamp(round(v/scale) + zero_point) with the input tensor's quantization, rounding
     half away from zero; float32 tensors get v.
Presets (--preset; explicit flags override their fields):
`

// preprocessFlags declares the image preprocessing flags shared by run and eval.
func preprocessFlags(fs *pflag.FlagSet) {
	fs.String("preset", "", "preprocessing preset: "+strings.Join(tensorio.PresetNames(), ", "))
	fs.String("resize", "shorter", "image resize mode: shorter, direct or none")
	fs.Int("resize-to", 0, "with --resize shorter: shorter side before the centre crop (0 = cover the tensor)")
	fs.Bool("grayscale", false, "convert images to gray (replicated if the tensor has 3 channels)")
	fs.Bool("bgr", false, "feed channels in BGR order")
	fs.String("layout", "", "image tensor layout nhwc or nchw (default: from the tensor shape)")
	fs.String("range", "0..1", "pixel range without --mean: 0..1, 0..255 or -1..1")
	fs.Float32Slice("mean", nil, "per-channel mean (RGB order) subtracted from x/255")
	fs.Float32Slice("std", nil, "per-channel std (RGB order) dividing x/255 - mean")
}

// preprocessOptions reads the flags of preprocessFlags: the preset first, then every flag
// the user set explicitly.
func preprocessOptions(fs *pflag.FlagSet) (tensorio.ImageOptions, error) {
	var o tensorio.ImageOptions
	if name, _ := fs.GetString("preset"); name != "" {
		p, err := tensorio.Preset(name)
		if err != nil {
			return o, BadInput(err)
		}
		o = p
	}
	set := func(name string) bool { return fs.Changed(name) }
	if s, _ := fs.GetString("resize"); set("resize") || o.Resize == "" {
		o.Resize = tensorio.ResizeMode(s)
	}
	if set("resize-to") {
		o.ResizeTo, _ = fs.GetInt("resize-to")
	}
	if set("grayscale") {
		o.Gray, _ = fs.GetBool("grayscale")
	}
	if set("bgr") {
		o.BGR, _ = fs.GetBool("bgr")
	}
	if set("layout") {
		s, _ := fs.GetString("layout")
		o.Layout = tensorio.Layout(strings.ToLower(s))
	}
	if s, _ := fs.GetString("range"); set("range") || (o.Range == "" && len(o.Mean) == 0) {
		o.Range = tensorio.Range(s)
		if set("range") && !set("mean") {
			o.Mean, o.Std = nil, nil
		}
	}
	if set("mean") {
		o.Mean, _ = fs.GetFloat32Slice("mean")
	}
	if set("std") {
		o.Std, _ = fs.GetFloat32Slice("std")
	}
	if err := o.Validate(); err != nil {
		return o, BadInput(err)
	}
	return o, nil
}

// warnInexactJPEG prints one warning when paths hold a JPEG that cannot be decoded exactly
// as Pillow decodes it (libjpeg unavailable).
func warnInexactJPEG(w io.Writer, paths []string) {
	for _, p := range paths {
		if ext := strings.ToLower(filepath.Ext(p)); ext == ".jpg" || ext == ".jpeg" {
			if err := tensorio.ExactJPEG(); err != nil {
				fmt.Fprintf(w, "warning: %v\n", err)
			}
			return
		}
	}
}

// loadedModel is a parsed model with its interpreter.
type loadedModel struct {
	path    string
	it      *interp.Interpreter
	inputs  []tensorio.Spec
	outputs []tensorio.Spec
}

// loadModel reads path and prepares an interpreter; every failure is bad input (an
// unreadable file, an invalid model, an unsupported operator or type).
func loadModel(path string, threads int) (*loadedModel, error) {
	m, err := tflite.Load(path)
	if err != nil {
		return nil, BadInput(err)
	}
	it, err := interp.New(m, interp.WithThreads(threads))
	if err != nil {
		return nil, BadInput(fmt.Errorf("%s: %w", path, err))
	}
	lm := &loadedModel{path: path, it: it}
	for _, ti := range it.Inputs() {
		lm.inputs = append(lm.inputs, specOf(ti))
	}
	for _, ti := range it.Outputs() {
		lm.outputs = append(lm.outputs, specOf(ti))
	}
	return lm, nil
}

// specOf converts interpreter tensor info to a tensorio spec (per-tensor quantization:
// the first scale and zero point).
func specOf(ti interp.TensorInfo) tensorio.Spec {
	s := tensorio.Spec{Name: ti.Name, Type: ti.Type, Shape: ti.Shape}
	if len(ti.Scale) > 0 {
		s.Scale = ti.Scale[0]
	}
	if len(ti.ZeroPoint) > 0 {
		s.ZeroPoint = ti.ZeroPoint[0]
	}
	return s
}

func runCommand() *Command {
	return &Command{
		Name:    "run",
		Summary: "run a model on inputs and print (or save) its outputs",
		Usage:   "run MODEL --input FILE [--input FILE ...] [-o DIR] [--format raw|npy] [--top K] [preprocessing flags]",
		Help: `Runs MODEL once with the host interpreter (bit-exact with TFLM's reference kernels).
Give one --input per model input, in order. Each output is printed: the top K classes with
dequantized scores for classifier outputs ([1,N] or [N]), otherwise its shape and first
values. -o DIR writes DIR/output0.raw, DIR/output1.raw, ... (the tensors' bytes in their
dtype), or .npy files with --format npy.

` + preprocessHelp + tensorio.PresetHelp(),
		Flags: func(fs *pflag.FlagSet) {
			fs.StringArrayP("input", "i", nil, "input file for the next model input (repeat per input)")
			fs.StringP("output-dir", "o", "", "write each output tensor to DIR/output<i>.raw (or .npy)")
			fs.String("format", "raw", "file format for -o: raw or npy")
			fs.Int("top", 5, "number of classes printed for classifier outputs")
			fs.Int("threads", runtime.NumCPU(), "interpreter threads")
			preprocessFlags(fs)
		},
		Run: runRun,
	}
}

// maxThreads bounds --threads and eval's --workers: each one holds its own buffers.
const maxThreads = 1024

func runRun(env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 1 {
		return BadInputf("expected one MODEL argument, got %d", len(args))
	}
	inputs, _ := fs.GetStringArray("input")
	outDir, _ := fs.GetString("output-dir")
	format, _ := fs.GetString("format")
	top, _ := fs.GetInt("top")
	threads, _ := fs.GetInt("threads")
	if format != "raw" && format != "npy" {
		return BadInputf("unknown --format %q (raw or npy)", format)
	}
	if top < 1 {
		return BadInputf("--top must be at least 1")
	}
	if threads < 1 || threads > maxThreads {
		return BadInputf("--threads must be between 1 and %d, got %d", maxThreads, threads)
	}
	if outDir != "" {
		if err := checkOutputDir("-o", outDir); err != nil {
			return err
		}
	}
	opts, err := preprocessOptions(fs)
	if err != nil {
		return err
	}
	lm, err := loadModel(args[0], threads)
	if err != nil {
		return err
	}
	if len(inputs) != len(lm.inputs) {
		return BadInputf("model has %d input(s) (%s); give one --input per input, got %d",
			len(lm.inputs), describeSpecs(lm.inputs), len(inputs))
	}
	warnInexactJPEG(env.Stderr, inputs)
	data := make([][]byte, len(inputs))
	for i, path := range inputs {
		if data[i], err = tensorio.Load(path, lm.inputs[i], opts); err != nil {
			return BadInput(err)
		}
	}
	outs, err := lm.it.Invoke(data...)
	if err != nil {
		return fmt.Errorf("invoke %s: %w", lm.path, err)
	}
	for i, out := range outs {
		if err := printOutput(env.Stdout, i, lm.outputs[i], out, top); err != nil {
			return err
		}
	}
	printPatchStats(env.Stdout, "", lm.it)
	if outDir != "" {
		return writeOutputs(outDir, format, lm.outputs, outs)
	}
	return nil
}

// describeSpecs lists the first few tensors of specs for a message.
func describeSpecs(specs []tensorio.Spec) string {
	const shown = 8
	var s []string
	for i, sp := range specs {
		if i == shown {
			s = append(s, fmt.Sprintf("... %d more", len(specs)-shown))
			break
		}
		s = append(s, fmt.Sprintf("%q %s", sp.Name, sp))
	}
	return strings.Join(s, ", ")
}

// classCount returns N for classifier-shaped outputs ([N] or [1,N] with N > 1), else 0.
func classCount(s tensorio.Spec) int {
	switch {
	case len(s.Shape) == 1 && s.Shape[0] > 1:
		return int(s.Shape[0])
	case len(s.Shape) == 2 && s.Shape[0] == 1 && s.Shape[1] > 1:
		return int(s.Shape[1])
	}
	return 0
}

// topK returns the indices of the k largest values, largest first; ties keep the lower index.
func topK(v []float64, k int) []int {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] > v[idx[b]] })
	return idx[:min(k, len(idx))]
}

func printOutput(w io.Writer, i int, s tensorio.Spec, data []byte, top int) error {
	vals, err := tensorio.Dequantize(s, data)
	if err != nil {
		return fmt.Errorf("output %d: %w", i, err)
	}
	raw, _ := tensorio.Values(s, data)
	fmt.Fprintf(w, "output %d %q %s", i, s.Name, s)
	if s.Scale != 0 {
		fmt.Fprintf(w, " scale %g zero_point %d", s.Scale, s.ZeroPoint)
	}
	fmt.Fprintln(w)
	if classCount(s) > 0 {
		for rank, c := range topK(vals, top) {
			fmt.Fprintf(w, "  #%d  class %-5d score %.6g", rank+1, c, vals[c])
			if s.Scale != 0 {
				fmt.Fprintf(w, "  (q %d)", int64(raw[c]))
			}
			fmt.Fprintln(w)
		}
		return nil
	}
	const shown = 16
	parts := make([]string, 0, shown)
	for _, v := range vals[:min(shown, len(vals))] {
		parts = append(parts, fmt.Sprintf("%.6g", v))
	}
	more := ""
	if len(vals) > shown {
		more = fmt.Sprintf(" ... (%d values)", len(vals))
	}
	fmt.Fprintf(w, "  [%s%s]\n", strings.Join(parts, " "), more)
	return nil
}

// writeOutputs writes each output tensor atomically to dir/output<i>.raw or .npy.
func writeOutputs(dir, format string, specs []tensorio.Spec, outs [][]byte) error {
	if err := makeOutputDir("-o", dir); err != nil {
		return err
	}
	for i, out := range outs {
		data := out
		if format == "npy" {
			var err error
			if data, err = tensorio.EncodeNPY(specs[i].Type, specs[i].Shape, out); err != nil {
				return fmt.Errorf("output %d: %w", i, err)
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("output%d.%s", i, format))
		if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
