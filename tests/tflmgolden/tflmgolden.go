// Package tflmgolden reads golden/tflm/INDEX.tsv of the shared test data: per case, a model,
// an input, the output files TFLM's reference kernels produced and TFLM's arena figures.
// Tests take TFLM's numbers from here rather than copying them.
package tflmgolden

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Output is one golden output tensor file.
type Output struct {
	Path string // absolute or relative to the working directory, like the data directory
	Type string // "int8[1,2]"
}

// Case is one row of INDEX.tsv. Paths are joined to the data directory.
type Case struct {
	Name         string
	Model, Input string
	// ModelRel is the model path as INDEX.tsv writes it ("models/person_detect.tflite").
	ModelRel string
	Outputs  []Output
	// TFLM's arena_used_bytes() and its split into the non-persistent head (planned
	// activations and scratch) and the persistent tail.
	ArenaUsed, ArenaHead, ArenaTail int64
}

// Load reads dataDir/golden/tflm/INDEX.tsv. The columns are found by their header names.
func Load(dataDir string) ([]Case, error) {
	index := filepath.Join(dataDir, "golden", "tflm", "INDEX.tsv")
	data, err := os.ReadFile(index)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	col := map[string]int{}
	for i, h := range strings.Split(lines[0], "\t") {
		col[h] = i
	}
	for _, h := range []string{"case", "model", "input", "outputs", "tflm_arena_used_bytes",
		"tflm_arena_head_nonpersistent_bytes", "tflm_arena_tail_persistent_bytes"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("%s: no %q column", index, h)
		}
	}
	var cases []Case
	for n, line := range lines[1:] {
		f := strings.Split(line, "\t")
		if len(f) < len(col) {
			return nil, fmt.Errorf("%s:%d: %d columns, want %d", index, n+2, len(f), len(col))
		}
		c := Case{Name: f[col["case"]], ModelRel: f[col["model"]],
			Model: filepath.Join(dataDir, f[col["model"]]), Input: filepath.Join(dataDir, f[col["input"]])}
		outs := strings.Fields(f[col["outputs"]]) // "file dtype[shape]" pairs
		for i := 0; i+1 < len(outs); i += 2 {
			c.Outputs = append(c.Outputs, Output{Path: filepath.Join(dataDir, "golden", "tflm", outs[i]), Type: outs[i+1]})
		}
		for _, v := range []struct {
			name string
			dst  *int64
		}{{"tflm_arena_used_bytes", &c.ArenaUsed}, {"tflm_arena_head_nonpersistent_bytes", &c.ArenaHead}, {"tflm_arena_tail_persistent_bytes", &c.ArenaTail}} {
			if *v.dst, err = strconv.ParseInt(f[col[v.name]], 10, 64); err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", index, n+2, v.name, err)
			}
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("%s lists no cases", index)
	}
	return cases, nil
}

// ArenaHeads maps each model of the index (as INDEX.tsv names it, "models/x.tflite") to
// TFLM's non-persistent arena head.
func ArenaHeads(cases []Case) map[string]int64 {
	out := map[string]int64{}
	for _, c := range cases {
		out[c.ModelRel] = c.ArenaHead
	}
	return out
}

// ArenaUsed maps each model of the index to TFLM's arena_used_bytes() (head and tail) of the
// x86-64 build.
func ArenaUsed(cases []Case) map[string]int64 {
	out := map[string]int64{}
	for _, c := range cases {
		out[c.ModelRel] = c.ArenaUsed
	}
	return out
}
