package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testOptimizePrecision covers --bits and --precision through the real plugin process: the
// written spec re-applies to the same model bytes, and hostile specs are refused with one
// line, exit 2 and nothing written.
func testOptimizePrecision(t *testing.T, pe *pluginEnv) {
	const model = "builtin:mobilenetv2-demo"
	dir := t.TempDir()
	first := filepath.Join(dir, "first")
	if code, _, errOut := pe.run("optimize", model, "--bits", "4", "-o", first); code != 0 {
		t.Fatalf("--bits 4: exit %d: %s", code, errOut)
	}
	specPath := filepath.Join(first, "mobilenetv2-demo_precision.json")
	spec, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(dir, "again")
	if code, _, errOut := pe.run("optimize", model, "--precision", specPath, "-o", again); code != 0 {
		t.Fatalf("--precision: exit %d: %s", code, errOut)
	}
	a, _ := os.ReadFile(filepath.Join(first, "mobilenetv2-demo_quantmcu.tflite"))
	b, _ := os.ReadFile(filepath.Join(again, "mobilenetv2-demo_quantmcu.tflite"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("re-applying the written spec gives another model (%d vs %d bytes)", len(a), len(b))
	}
	if code, out, errOut := pe.run("inspect", filepath.Join(first, "mobilenetv2-demo_quantmcu.tflite")); code != 0 || !strings.Contains(out, "plan v2") || !strings.Contains(out, "low bits") {
		t.Errorf("inspect of the mixed model: exit %d, %s\n%s", code, errOut, out)
	}

	var doc map[string]any
	if err := json.Unmarshal(spec, &doc); err != nil {
		t.Fatal(err)
	}
	maps := doc["maps"].(map[string]any)
	var some string
	for name := range maps {
		some = name
		break
	}
	checked := doc["checked"].(map[string]any)["tensor"].(string)
	edit := func(f func(d map[string]any)) string {
		var d map[string]any
		json.Unmarshal(spec, &d)
		f(d)
		out, _ := json.Marshal(d)
		return string(out)
	}
	setMap := func(name string, m map[string]any) func(d map[string]any) {
		return func(d map[string]any) { d["maps"].(map[string]any)[name] = m }
	}
	cases := []struct {
		name, spec string
		args       []string
		want       string
	}{
		{"unknown tensor", edit(setMap("no_such_tensor", map[string]any{"bits": 4, "min": 0, "max": 1})), nil, `tensor "no_such_tensor" is not a feature map of the patch stage`},
		{"bits 3", edit(setMap(some, map[string]any{"bits": 3, "min": 0, "max": 1})), nil, "bits 3, want 8, 4 or 2"},
		{"min > max", edit(setMap(some, map[string]any{"bits": 4, "min": 2, "max": 1})), nil, "min 2 > max 1"},
		{"NaN token", strings.Replace(string(spec), `"min": 0`, `"min": NaN`, 1), nil, "invalid character 'N'"},
		{"NaN string", edit(setMap(some, map[string]any{"bits": 4, "min": "NaN", "max": 1})), nil, "cannot unmarshal string"},
		{"map outside the stage", edit(setMap("output", map[string]any{"bits": 4, "min": -1, "max": 1})), nil, `tensor "output" is not a feature map of the patch stage`},
		{"checked map itself", edit(setMap(checked, map[string]any{"bits": 4, "min": 0, "max": 1})), nil, "is computed before the checked map"},
		{"stage input", edit(setMap("input", map[string]any{"bits": 4, "min": 0, "max": 1})), nil, "is computed before the checked map"},
		{"unknown checked", edit(func(d map[string]any) { d["checked"].(map[string]any)["tensor"] = "nope" }), nil, `checked tensor "nope" is not a feature map`},
		{"threshold range", edit(func(d map[string]any) { d["checked"].(map[string]any)["hi"] = 200 }), nil, "want int8 codes"},
		{"unknown key", edit(func(d map[string]any) { d["extra"] = 1 }), nil, `unknown field "extra"`},
		{"bits flag", "", []string{"--bits", "3"}, "bits: 3, want 8, 4 or 2"},
		{"both", string(spec), []string{"--bits", "4"}, "--precision, --bits and --calib exclude each other"},
	}
	for _, c := range cases {
		out := filepath.Join(t.TempDir(), "out")
		args := []string{"optimize", model, "-o", out}
		if c.spec != "" {
			p := filepath.Join(t.TempDir(), "spec.json")
			if err := os.WriteFile(p, []byte(c.spec), 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--precision", p)
		}
		code, _, errOut := pe.run(append(args, c.args...)...)
		if code != ExitBadInput || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line containing %q", c.name, code, errOut, c.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: output dir exists after a refusal", c.name)
		}
	}
}
