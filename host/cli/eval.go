package cli

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"

	"github.com/quantmcu/quantmcu/tflite/atomicfile"
	"github.com/quantmcu/quantmcu/tflite/boundedread"
	"github.com/quantmcu/quantmcu/tflite/tensorio"
)

func evalCommand() *Command {
	return &Command{
		Name:    "eval",
		Summary: "measure a classifier's accuracy (and agreement with a baseline) on a folder of inputs",
		Usage:   "eval MODEL --data DIR [--labels FILE|from-name] [--baseline MODEL] [--limit N] [--csv FILE] [preprocessing flags]",
		Help: `Runs MODEL on every input in DIR (images, .npy and .raw/.bin files, sorted by name; other
files are skipped) on all cores, and reports top-1/top-5 accuracy of output 0 against the
labels, and with --baseline how closely MODEL follows BASELINE on the same inputs: top-1
agreement, mean and max |Δ| of the raw (quantized) output values.

Labels: "from-name" takes the leading integer of each file name (005_n01496331_electric_ray.JPEG
is class 5); a FILE has lines "filename label" (blank lines and # comments ignored). Files
without a label are run but left out of the accuracy. A model with 1001 classes (TensorFlow's
background class first) compares its index label+1 unless --label-offset says otherwise.
--csv FILE writes one row per input.

` + preprocessHelp + tensorio.PresetHelp(),
		Flags: func(fs *pflag.FlagSet) {
			fs.String("data", "", "folder of inputs (required)")
			fs.String("labels", "", `labels: "from-name" or a file of "filename label" lines`)
			fs.Int("label-offset", -1, "added to each label to get the output index (-1 = 1 for 1001 classes, else 0)")
			fs.String("baseline", "", "baseline model to compare outputs with")
			fs.Int("limit", 0, "evaluate only the first N inputs (0 = all)")
			fs.String("csv", "", "write per-input results to this CSV file")
			fs.Int("workers", runtime.NumCPU(), "inputs evaluated in parallel")
			fs.BoolP("quiet", "q", false, "no progress bar")
			preprocessFlags(fs)
		},
		Run: runEval,
	}
}

// evalResult is what eval learns from one input.
type evalResult struct {
	file      string
	label     int // -1 = unlabeled
	top       []int
	score     float64
	baseTop   int
	meanDelta float64
	maxDelta  float64
	err       error
}

type evalSetup struct {
	model, base *loadedModel
	opts        tensorio.ImageOptions
	offset      int
	classes     int
}

func runEval(env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 1 {
		return BadInputf("expected one MODEL argument, got %d", len(args))
	}
	dir, _ := fs.GetString("data")
	labelsArg, _ := fs.GetString("labels")
	offset, _ := fs.GetInt("label-offset")
	basePath, _ := fs.GetString("baseline")
	limit, _ := fs.GetInt("limit")
	csvPath, _ := fs.GetString("csv")
	workers, _ := fs.GetInt("workers")
	quiet, _ := fs.GetBool("quiet")
	if dir == "" {
		return BadInputf("--data DIR is required")
	}
	if limit < 0 || workers < 1 || workers > maxThreads || offset < -1 {
		return BadInputf("--limit must be >= 0, --workers between 1 and %d, --label-offset >= -1", maxThreads)
	}
	if fi, err := os.Stat(csvPath); csvPath != "" && err == nil && fi.IsDir() {
		return BadInputf("--csv %s: is a directory", csvPath)
	}
	opts, err := preprocessOptions(fs)
	if err != nil {
		return err
	}
	files, err := listInputs(dir)
	if err != nil {
		return BadInput(err)
	}
	if limit > 0 && len(files) > limit {
		files = files[:limit]
	}
	warnInexactJPEG(env.Stderr, files)
	labels, err := readLabels(labelsArg, files)
	if err != nil {
		return BadInput(err)
	}
	st := &evalSetup{opts: opts}
	if st.model, err = loadModel(args[0], 1); err != nil {
		return err
	}
	if err := checkClassifier(st.model); err != nil {
		return err
	}
	st.classes = classCount(st.model.outputs[0])
	if basePath != "" {
		if st.base, err = loadModel(basePath, 1); err != nil {
			return err
		}
		if err := checkClassifier(st.base); err != nil {
			return err
		}
		a, b := st.model.outputs[0], st.base.outputs[0]
		if a.String() != b.String() {
			return BadInputf("baseline output 0 is %s, model output 0 is %s: not comparable", b, a)
		}
	}
	st.offset = offset
	if offset < 0 {
		st.offset = 0
		if st.classes == 1001 {
			st.offset = 1
		}
	}

	start := time.Now()
	bar := newProgress(env.Stderr, len(files), quiet)
	results := st.evalAll(files, labels, workers, func() { bar.Add(1) })
	bar.Finish()
	elapsed := time.Since(start)
	for _, r := range results {
		if r.err != nil {
			return BadInput(r.err)
		}
	}
	printEvalSummary(env.Stdout, st, dir, labelsArg, results, elapsed, workers)
	if csvPath != "" {
		if err := writeEvalCSV(csvPath, st, results); err != nil {
			return err
		}
	}
	return nil
}

func checkClassifier(lm *loadedModel) error {
	if len(lm.inputs) != 1 {
		return BadInputf("%s: eval needs a model with one input, it has %d", lm.path, len(lm.inputs))
	}
	if classCount(lm.outputs[0]) == 0 {
		return BadInputf("%s: output 0 is %s, not classifier scores ([N] or [1,N])", lm.path, lm.outputs[0])
	}
	return nil
}

// listInputs returns the input files of dir (images, .npy, .raw, .bin), sorted by name.
func listInputs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if tensorio.KindOf(e.Name()) != tensorio.KindRaw || ext == ".raw" || ext == ".bin" {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no inputs (images, .npy, .raw or .bin files)", dir)
	}
	return files, nil
}

// maxLabelsFile bounds a labels file: a million "filename label" lines fit in it.
const maxLabelsFile = 64 << 20

// readLabels returns each file's label (-1 when it has none), or nil without labels.
func readLabels(arg string, files []string) ([]int, error) {
	if arg == "" {
		return nil, nil
	}
	labels := make([]int, len(files))
	if arg == "from-name" {
		for i, f := range files {
			labels[i] = leadingInt(filepath.Base(f))
		}
		return labels, nil
	}
	data, err := boundedread.File(arg, maxLabelsFile, "a labels file", nil)
	if err != nil {
		return nil, err
	}
	byName := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"filename label\", got %q", arg, n, line)
		}
		l, err := strconv.Atoi(f[1])
		if err != nil || l < 0 {
			return nil, fmt.Errorf("%s:%d: label %q is not a class index", arg, n, f[1])
		}
		byName[filepath.Base(f[0])] = l
	}
	for i, f := range files {
		l, ok := byName[filepath.Base(f)]
		if !ok {
			l = -1
		}
		labels[i] = l
	}
	return labels, nil
}

// leadingInt parses the decimal digits that start name, or returns -1.
func leadingInt(name string) int {
	end := 0
	for end < len(name) && end < 9 && name[end] >= '0' && name[end] <= '9' {
		end++
	}
	if end == 0 {
		return -1
	}
	v, _ := strconv.Atoi(name[:end])
	return v
}

// evalAll runs every file on workers goroutines, each with its own interpreter clones;
// results come back in input order. After the first failing input no new work starts.
func (st *evalSetup) evalAll(files []string, labels []int, workers int, done func()) []evalResult {
	results := make([]evalResult, len(files))
	var next atomic.Int64
	var failed atomic.Bool
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < min(workers, len(files)); w++ {
		model := st.model.it.Clone()
		var base *loadedModel
		if st.base != nil {
			base = &loadedModel{path: st.base.path, it: st.base.it.Clone(), inputs: st.base.inputs, outputs: st.base.outputs}
		}
		mine := &loadedModel{path: st.model.path, it: model, inputs: st.model.inputs, outputs: st.model.outputs}
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				label := -1
				if labels != nil {
					label = labels[i]
				}
				results[i] = st.evalOne(mine, base, files[i], label)
				if results[i].err != nil {
					failed.Store(true)
				}
				mu.Lock()
				done()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return results
}

func (st *evalSetup) evalOne(model, base *loadedModel, file string, label int) evalResult {
	r := evalResult{file: file, label: label, baseTop: -1}
	in, err := tensorio.Load(file, model.inputs[0], st.opts)
	if err != nil {
		r.err = err
		return r
	}
	out, err := model.it.Invoke(in)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", file, err)
		return r
	}
	vals, err := tensorio.Dequantize(model.outputs[0], out[0])
	if err != nil {
		r.err = err
		return r
	}
	r.top = topK(vals, 5)
	r.score = vals[r.top[0]]
	if base == nil {
		return r
	}
	bin := in
	if base.inputs[0].String() != model.inputs[0].String() || base.inputs[0].Scale != model.inputs[0].Scale ||
		base.inputs[0].ZeroPoint != model.inputs[0].ZeroPoint {
		if bin, err = tensorio.Load(file, base.inputs[0], st.opts); err != nil {
			r.err = fmt.Errorf("baseline: %w", err)
			return r
		}
	}
	bout, err := base.it.Invoke(bin)
	if err != nil {
		r.err = fmt.Errorf("%s: baseline: %w", file, err)
		return r
	}
	bvals, _ := tensorio.Dequantize(base.outputs[0], bout[0])
	r.baseTop = topK(bvals, 1)[0]
	a, _ := tensorio.Values(model.outputs[0], out[0])
	b, _ := tensorio.Values(base.outputs[0], bout[0])
	for i := range a {
		d := math.Abs(a[i] - b[i])
		r.meanDelta += d
		r.maxDelta = max(r.maxDelta, d)
	}
	r.meanDelta /= float64(len(a))
	return r
}

// hits reports whether r's label is the top-1 and within the top-5 predictions.
func (st *evalSetup) hits(r evalResult) (top1, top5 bool) {
	if r.label < 0 {
		return false, false
	}
	want := r.label + st.offset
	for k, c := range r.top {
		if c == want {
			return k == 0, true
		}
	}
	return false, false
}

func printEvalSummary(w io.Writer, st *evalSetup, dir, labelsArg string, results []evalResult, elapsed time.Duration, workers int) {
	n := len(results)
	var labelled, top1, top5, agree int
	var meanDelta, maxDelta float64
	for _, r := range results {
		if r.label >= 0 {
			labelled++
			h1, h5 := st.hits(r)
			if h1 {
				top1++
			}
			if h5 {
				top5++
			}
		}
		if st.base != nil {
			if r.baseTop == r.top[0] {
				agree++
			}
			meanDelta += r.meanDelta
			maxDelta = max(maxDelta, r.maxDelta)
		}
	}
	pct := func(a, b int) string { return fmt.Sprintf("%6.2f%% (%d/%d)", 100*float64(a)/float64(b), a, b) }
	fmt.Fprintf(w, "model        %s (%d classes)\n", st.model.path, st.classes)
	fmt.Fprintf(w, "inputs       %d from %s\n", n, dir)
	fmt.Fprintf(w, "preprocess   %s\n", st.opts.Describe())
	switch {
	case labelsArg == "":
		fmt.Fprintf(w, "labels       none (give --labels for accuracy)\n")
	case labelled == 0:
		fmt.Fprintf(w, "labels       %s: no input has a label\n", labelsArg)
	default:
		fmt.Fprintf(w, "labels       %s, %d labelled, output index = label + %d\n", labelsArg, labelled, st.offset)
		fmt.Fprintf(w, "top-1        %s\n", pct(top1, labelled))
		fmt.Fprintf(w, "top-5        %s\n", pct(top5, labelled))
	}
	if st.base != nil {
		fmt.Fprintf(w, "baseline     %s\n", st.base.path)
		fmt.Fprintf(w, "  top-1 agreement  %s\n", pct(agree, n))
		fmt.Fprintf(w, "  output |Δ|       mean %.4f, max %g (quantized units)\n", meanDelta/float64(n), maxDelta)
	}
	printPatchStats(w, "patch stage  ", st.model.it)
	fmt.Fprintf(w, "time         %.1f s (%.1f ms/input, %d workers)\n", elapsed.Seconds(),
		float64(elapsed.Milliseconds())/float64(n), min(workers, n))
}

func writeEvalCSV(path string, st *evalSetup, results []evalResult) error {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	head := []string{"file", "label", "top1", "top1_score", "top1_hit", "top5_hit", "top5"}
	if st.base != nil {
		head = append(head, "baseline_top1", "baseline_agree", "mean_abs_delta", "max_abs_delta")
	}
	cw.Write(head)
	for _, r := range results {
		h1, h5 := st.hits(r)
		label := ""
		if r.label >= 0 {
			label = strconv.Itoa(r.label)
		}
		top := make([]string, len(r.top))
		for i, c := range r.top {
			top[i] = strconv.Itoa(c)
		}
		row := []string{filepath.Base(r.file), label, strconv.Itoa(r.top[0]), strconv.FormatFloat(r.score, 'g', 6, 64),
			boolStr(h1, r.label >= 0), boolStr(h5, r.label >= 0), strings.Join(top, " ")}
		if st.base != nil {
			row = append(row, strconv.Itoa(r.baseTop), boolStr(r.baseTop == r.top[0], true),
				strconv.FormatFloat(r.meanDelta, 'f', 4, 64), strconv.FormatFloat(r.maxDelta, 'g', 6, 64))
		}
		cw.Write(row)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b.Bytes(), 0o644)
}

func boolStr(v, known bool) string {
	if !known {
		return ""
	}
	if v {
		return "1"
	}
	return "0"
}

// newProgress returns a progress bar on w, invisible when quiet or when w is not a terminal.
func newProgress(w io.Writer, n int, quiet bool) *progressbar.ProgressBar {
	visible := !quiet && isTerminal(w)
	return progressbar.NewOptions(n,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetVisibility(visible),
		progressbar.OptionSetDescription("eval"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
