package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// arrayBytes reads the byte array of a generated .cc back.
func arrayBytes(t *testing.T, src []byte) []byte {
	t.Helper()
	s := string(src)
	start, end := strings.Index(s, "[] = {"), strings.Index(s, "\n};\n")
	if start < 0 || end < start {
		t.Fatal("no array in the generated source")
	}
	var out []byte
	for _, tok := range strings.FieldsFunc(s[start+6:end], func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		v, err := strconv.ParseUint(tok, 0, 8)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, byte(v))
	}
	return out
}

func TestExportCWritesTheModelBytes(t *testing.T) {
	model := filepath.Join(sharedData(t), "models", "person_detect.tflite")
	want, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	// A copy named like optimize's output: the default name drops "_quantmcu".
	dir := t.TempDir()
	in := filepath.Join(dir, "person_detect_quantmcu.tflite")
	if err := os.WriteFile(in, want, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "c")
	code, stdout, stderr := quantmcu("export-c", in, "-o", out)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	cc, err := os.ReadFile(filepath.Join(out, "person_detect_quantmcu_model.cc"))
	if err != nil {
		t.Fatalf("%v (stdout %q)", err, stdout)
	}
	h, err := os.ReadFile(filepath.Join(out, "person_detect_quantmcu_model.h"))
	if err != nil {
		t.Fatal(err)
	}
	if got := arrayBytes(t, cc); !bytes.Equal(got, want) {
		t.Fatalf("array has %d bytes, not the model's %d", len(got), len(want))
	}
	if !strings.Contains(string(h), "#define PERSON_DETECT_QUANTMCU_MODEL_DATA_SIZE 300568u") ||
		!strings.Contains(string(cc), "from person_detect_quantmcu.tflite") {
		t.Errorf("header or banner wrong:\n%s", h)
	}

	// Same input, other directory and --name: deterministic content, names from --name.
	code, _, stderr = quantmcu("export-c", in, "-o", filepath.Join(dir, "d"), "--name", "vww")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	cc2, err := os.ReadFile(filepath.Join(dir, "d", "vww_quantmcu_model.cc"))
	if err != nil {
		t.Fatal(err)
	}
	if r := strings.NewReplacer("vww_quantmcu_model", "person_detect_quantmcu_model", "VWW_", "PERSON_DETECT_"); r.Replace(string(cc2)) != string(cc) {
		t.Error("output differs beyond the names")
	}
}

func TestExportCRejectsBadInputWritingNothing(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.tflite")
	if err := os.WriteFile(junk, []byte("not a flatbuffer at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, args := range [][]string{
		{"export-c", junk, "-o", out},
		{"export-c", filepath.Join(dir, "missing.tflite"), "-o", out},
		{"export-c", "-o", out},
		{"export-c", dir, "-o", out},
	} {
		code, _, stderr := quantmcu(args...)
		if code != ExitBadInput || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line", args, code, stderr)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output dir was created: %v", err)
	}
}
