package cli_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/host/cli"
	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/tests/tflmgolden"
	"github.com/quantmcu/quantmcu/tflite"
)

// dataDir is ../shared/data relative to the repository root.
const dataDir = "../../../shared/data"

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = cli.Main(args, &cli.Env{Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func realModels(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dataDir, "models", "*.tflite"))
	if len(files) == 0 {
		t.Skipf("%s/models absent", dataDir)
	}
	return files
}

func TestInspectJSONRealModels(t *testing.T) {
	// TFLM's own arena heads for the models of the golden index.
	var tflmArenaHead map[string]int64
	if cases, err := tflmgolden.Load(dataDir); err == nil {
		tflmArenaHead = tflmgolden.ArenaHeads(cases)
	}
	checked := 0
	defer func() {
		if tflmArenaHead != nil && checked < len(tflmArenaHead) {
			t.Errorf("compared %d models with TFLM's arena head, the index has %d", checked, len(tflmArenaHead))
		}
	}()
	for _, path := range realModels(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			code, out, errOut := runCLI("inspect", path, "--format", "json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var doc map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("invalid JSON: %v", err)
			}
			for _, k := range []string{"ops", "macs", "weight_bytes", "peak_activation_bytes", "peak_op",
				"arena_bytes", "params", "inputs", "outputs", "model", "peak_live_bytes", "tensors"} {
				if _, ok := doc[k]; !ok {
					t.Errorf("key %q missing", k)
				}
			}
			var typed struct {
				Ops []struct {
					Op   string `json:"op"`
					MACs int64  `json:"macs"`
				} `json:"ops"`
				MACs                int64 `json:"macs"`
				PeakActivationBytes int64 `json:"peak_activation_bytes"`
				PeakOp              int   `json:"peak_op"`
				Inputs              []struct {
					Quantization *struct {
						Scale float64 `json:"scale"`
					} `json:"quantization"`
				} `json:"inputs"`
			}
			if err := json.Unmarshal([]byte(out), &typed); err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, op := range typed.Ops {
				sum += op.MACs
			}
			if len(typed.Ops) == 0 || sum != typed.MACs || typed.MACs <= 0 {
				t.Errorf("%d ops, MACs %d, per-op sum %d", len(typed.Ops), typed.MACs, sum)
			}
			if typed.PeakOp < 0 || typed.PeakOp >= len(typed.Ops) {
				t.Errorf("peak_op %d outside the %d ops", typed.PeakOp, len(typed.Ops))
			}
			if want, ok := tflmArenaHead["models/"+filepath.Base(path)]; ok {
				checked++
				if typed.PeakActivationBytes != want {
					t.Errorf("peak_activation_bytes %d, TFLM plans %d", typed.PeakActivationBytes, want)
				}
			}
			if len(typed.Inputs) == 0 || typed.Inputs[0].Quantization == nil {
				t.Errorf("input quantization missing")
			}
		})
	}
}

func TestInspectTableAndCSV(t *testing.T) {
	path := filepath.Join(dataDir, "models", "person_detect.tflite")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s absent", path)
	}
	code, out, errOut := runCLI("inspect", path)
	if code != 0 {
		t.Fatalf("table: exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"#   op                 output        type  MACs     weights  live    note\n",
		"2   CONV_2D            [1,48,48,16]  INT8  294,912  192      55,296\n",
		"MACs                    7,160,192\n",
		"peak activation memory  55,296 B set at op 2 (CONV_2D)",
		"input  INT8  [1,96,96,1]  scale 0.00784314 zero point -1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(line, " ") {
			t.Errorf("trailing space in %q", line)
		}
	}

	code, out, errOut = runCLI("inspect", "--format=csv", path)
	if code != 0 {
		t.Fatalf("csv: exit %d: %s", code, errOut)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 32 || rows[0][0] != "index" || rows[3][1] != "CONV_2D" || rows[3][4] != "294912" {
		t.Errorf("csv: %d rows, row 3 %v", len(rows), rows[min(3, len(rows)-1)])
	}
}

// A custom operator is listed and flagged, not fatal.
func TestInspectFlagsCustomOps(t *testing.T) {
	path := filepath.Join(dataDir, "models", "negative", "person_detect_vela.tflite")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s absent", path)
	}
	code, out, errOut := runCLI("inspect", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `CUSTOM("ethos-u")`) || !strings.Contains(out, "custom op 'ethos-u': not analysed") {
		t.Errorf("custom op not flagged:\n%s", out)
	}
}

// Every negative model, and an empty, a truncated and a non-TFLite file, is either described
// or rejected with exit 2 and exactly one line on stderr.
func TestInspectBadInputs(t *testing.T) {
	dir := t.TempDir()
	paths, _ := filepath.Glob(filepath.Join(dataDir, "models", "negative", "*.tflite"))
	// valid_*: TFLM fuzz seeds that are well-formed apart from a dangling builtin_options
	// offset of an options type the operator never reads (Load drops it with a warning).
	mustDescribe := map[string]bool{"keyword_scrambled_8bit.tflite": true, "person_detect_vela.tflite": true,
		"valid_small.tflite": true, "valid_rect.tflite": true}
	// malicious_gather: structurally sound, its GATHER index constant points outside the
	// params (a runtime error in TFLM, which the interpreter reports); describing it is fine.
	mayDescribe := map[string]bool{"malicious_gather.tflite": true}

	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	paths = append(paths,
		write("empty.tflite", nil),
		write("text.tflite", []byte("this is not a model, just some text long enough to be read\n")),
		filepath.Join(dir, "does_not_exist.tflite"),
		dir, // a directory
	)
	if real, err := os.ReadFile(filepath.Join(dataDir, "models", "person_detect.tflite")); err == nil {
		paths = append(paths, write("truncated.tflite", real[:len(real)/2]), write("head.tflite", real[:64]))
	}
	for _, p := range paths {
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI("inspect", p, "--format", "json")
			switch {
			case code == 0 && (mustDescribe[name] || mayDescribe[name]):
			case code == 0:
				t.Errorf("described a model that should be rejected")
			case mustDescribe[name]:
				t.Errorf("exit %d, want a description: %s", code, errOut)
			case code != 2:
				t.Errorf("exit %d, want 2: %s", code, errOut)
			case strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n"):
				t.Errorf("stderr is not one line: %q", errOut)
			case !strings.Contains(errOut, p):
				t.Errorf("stderr does not name the file: %q", errOut)
			}
		})
	}
}

func TestInspectUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"inspect"},
		{"inspect", "a.tflite", "b.tflite"},
		{"inspect", "x.tflite", "--format", "xml"},
		{"inspect", "--no-such-flag", "x.tflite"},
	} {
		code, out, errOut := runCLI(args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

func TestInspectHelp(t *testing.T) {
	code, out, _ := runCLI("help", "inspect")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"inspect MODEL [--format table|csv|json]", "peak activation memory", "--format", "exits with status 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestInspectBuiltinModel(t *testing.T) {
	code, out, errOut := runCLI("inspect", cli.DefaultModel, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		MACs                int64 `json:"macs"`
		PeakActivationBytes int64 `json:"peak_activation_bytes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.MACs == 0 || doc.PeakActivationBytes == 0 {
		t.Errorf("err %v, doc %+v", err, doc)
	}
}

// TestInspectOfflinePlan: inspect of a model optimize wrote with an offline arena plan
// names it, in the table and in JSON, with the head TFLM would plan without it.
func TestInspectOfflinePlan(t *testing.T) {
	model := filepath.Join(dataDir, "models", "person_detect.tflite")
	if _, err := os.Stat(model); err != nil {
		t.Skipf("%s absent", model)
	}
	m, err := tflite.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	res, err := rewrite.Optimize(context.Background(), m, rewrite.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "person_detect_quantmcu.tflite")
	if err := tflite.Save(out, res.Model); err != nil {
		t.Fatal(err)
	}
	code, js, errOut := runCLI("inspect", out, "--format", "json")
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, errOut)
	}
	var doc struct {
		Head    int64 `json:"peak_activation_bytes"`
		Buffers int   `json:"offline_plan_buffers"`
		Online  int64 `json:"arena_bytes_online"`
	}
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Buffers < 2 || doc.Online <= doc.Head {
		t.Fatalf("offline plan: %d buffers, head %d B, online %d B", doc.Buffers, doc.Head, doc.Online)
	}
	if code, table, _ := runCLI("inspect", out); code != 0 || !strings.Contains(table, "offline plan") {
		t.Fatalf("the table does not name the offline plan:\n%s", table)
	}
	// The original model has none: no such keys.
	if _, js, _ := runCLI("inspect", model, "--format", "json"); strings.Contains(js, "offline_plan_buffers") {
		t.Fatal("a model without an offline plan reports one")
	}
}
