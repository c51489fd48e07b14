package carray

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// parseArray reads the initializer of the generated array back into bytes.
func parseArray(t *testing.T, src []byte) []byte {
	t.Helper()
	s := string(src)
	start := strings.Index(s, "[] = {")
	end := strings.Index(s, "\n};\n")
	if start < 0 || end < start {
		t.Fatalf("no array initializer in:\n%.300s", s)
	}
	var out []byte
	for _, tok := range strings.FieldsFunc(s[start+len("[] = {"):end], func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		v, err := strconv.ParseUint(tok, 0, 8)
		if err != nil {
			t.Fatalf("token %q: %v", tok, err)
		}
		out = append(out, byte(v))
	}
	return out
}

func TestGenerateRoundTripsAndNames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 11, 12, 13, 4099} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		f, err := Generate(data, Options{Name: "my-model.v2", From: "my-model.v2.tflite", Tool: "quantmcu test"})
		if err != nil {
			t.Fatal(err)
		}
		if got := parseArray(t, f.Source); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: array holds %d different bytes", n, len(got))
		}
		if f.SourceName != "my_model_v2_quantmcu_model.cc" || f.HeaderName != "my_model_v2_quantmcu_model.h" ||
			f.DataSymbol != "g_my_model_v2_quantmcu_model_data" || f.SizeSymbol != "g_my_model_v2_quantmcu_model_data_size" ||
			f.SizeMacro != "MY_MODEL_V2_QUANTMCU_MODEL_DATA_SIZE" {
			t.Errorf("names: %+v", *f)
		}
		for _, want := range []string{
			"extern const unsigned char g_my_model_v2_quantmcu_model_data[];",
			"extern const unsigned int g_my_model_v2_quantmcu_model_data_size;",
			"#define MY_MODEL_V2_QUANTMCU_MODEL_DATA_SIZE " + strconv.Itoa(n) + "u",
		} {
			if !strings.Contains(string(f.Header), want) {
				t.Errorf("header lacks %q", want)
			}
		}
		if !regexp.MustCompile(`(?m)^alignas\(16\) const unsigned char g_my_model_v2_quantmcu_model_data\[\] = \{$`).Match(f.Source) {
			t.Errorf("source does not define a 16-byte aligned array")
		}
		again, _ := Generate(data, Options{Name: "my-model.v2", From: "my-model.v2.tflite", Tool: "quantmcu test"})
		if !bytes.Equal(again.Source, f.Source) || !bytes.Equal(again.Header, f.Header) {
			t.Errorf("%d bytes: output is not deterministic", n)
		}
	}
}

func TestIdentifierIsBytewise(t *testing.T) {
	for in, want := range map[string]string{"person_detect": "person_detect", "mbv2-0.35": "mbv2_0_35", "café": "caf__", "9x": "9x"} {
		if got, err := Identifier(in); err != nil || got != want {
			t.Errorf("Identifier(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestGenerateRefuses(t *testing.T) {
	if _, err := Generate(nil, Options{Name: "m"}); err == nil || !strings.Contains(err.Error(), "empty model") {
		t.Errorf("empty model: %v", err)
	}
	if _, err := Generate([]byte{1}, Options{}); err == nil || !strings.Contains(err.Error(), "empty name") {
		t.Errorf("empty name: %v", err)
	}
}

// TestGeneratedSourceCompilesAndHoldsTheBytes builds the .cc with the host C++ compiler at
// -Werror, links it with a C program that includes the header, and checks length, 16-byte
// alignment and content at run time.
func TestGeneratedSourceCompilesAndHoldsTheBytes(t *testing.T) {
	cxx, err := exec.LookPath("c++")
	if err != nil {
		t.Skip("no c++ compiler on PATH")
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no cc on PATH")
	}
	data := make([]byte, 1000)
	var sum uint32
	for i := range data {
		data[i] = byte(i*7 + i/13)
		sum = sum*31 + uint32(data[i])
	}
	f, err := Generate(data, Options{Name: "t", Tool: "quantmcu test"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(f.SourceName, f.Source)
	write(f.HeaderName, f.Header)
	write("main.c", []byte(`#include <stdint.h>
#include <stdio.h>
#include "t_quantmcu_model.h"
int main(void) {
  uint32_t sum = 0;
  unsigned i;
  for (i = 0; i < g_t_quantmcu_model_data_size; i++) sum = sum * 31u + g_t_quantmcu_model_data[i];
  printf("%u %u %u\n", g_t_quantmcu_model_data_size, (unsigned)T_QUANTMCU_MODEL_DATA_SIZE,
         (unsigned)((uintptr_t)g_t_quantmcu_model_data % 16));
  printf("%u\n", sum);
  return 0;
}
`))
	run := func(name string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run(cxx, "-std=c++11", "-Wall", "-Wextra", "-pedantic", "-Werror", "-c", f.SourceName, "-o", "array.o")
	run(cc, "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "main.c", "array.o", "-o", "main")
	out, err := exec.Command(filepath.Join(dir, "main")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "1000 1000 0\n" + strconv.FormatUint(uint64(sum), 10) + "\n"; string(out) != want {
		t.Errorf("program printed %q, want %q", out, want)
	}
}
