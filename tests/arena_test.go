package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/tflite"
)

// TestWholeArenaMatchesTFLMBuilds compares the predicted whole arena (head + persistent tail)
// with arena_used_bytes() that real TFLM builds reported (testdata/tflm_arena_measured.tsv:
// Cortex-M4 with reference and CMSIS-NN kernels, x86-64), for the four patchable models as
// they are and rewritten (one stage unless the ninth column says otherwise, as measured), with
// and without an offline arena plan, and under an --sram budget where the tenth column gives one
// (the declared arena must then fit it).
func TestWholeArenaMatchesTFLMBuilds(t *testing.T) {
	dir := sharedData(t)
	f, err := os.Open("testdata/tflm_arena_measured.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "model\t") || line == "" {
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) == 7 {
			c = append(c, "off")
		}
		if len(c) < 8 || len(c) > 10 || (c[7] != "on" && c[7] != "off") {
			t.Fatalf("bad row %q", line)
		}
		rows++
		split, _ := strconv.Atoi(c[1])
		rewritten := c[1] != "0"
		stages := 1 // the ninth column bounds the stages (0: automatic); without it, one stage
		if len(c) >= 9 {
			stages, _ = strconv.Atoi(c[8])
		}
		var sram int64 // the tenth column is the --sram budget in bytes (whole arena); without it, none
		if len(c) == 10 {
			var err error
			if sram, err = strconv.ParseInt(c[9], 10, 64); err != nil || sram <= 0 {
				t.Fatalf("bad sram in row %q", line)
			}
		}
		used, _ := strconv.ParseInt(c[5], 10, 64)
		head, _ := strconv.ParseInt(c[6], 10, 64)
		target, kernels := analysis.Target(c[3]), analysis.Kernels(c[4])
		t.Run(filepath.Base(c[0])+"/"+c[1]+"/"+c[2]+"/"+strconv.Itoa(stages)+"/"+c[3]+"/"+c[4]+"/offline-"+c[7]+sramName(sram), func(t *testing.T) {
			m, err := tflite.Load(filepath.Join(dir, c[0]))
			if err != nil {
				t.Fatal(err)
			}
			if !rewritten {
				r, err := analysis.AnalyzeWith(m, analysis.Options{Target: target, Kernels: kernels, Custom: patch.DescribeCustomOpFor(target)})
				if err != nil {
					t.Fatal(err)
				}
				if r.ArenaBytes != head || r.TotalBytes != used {
					t.Errorf("predicted %d B head, %d B whole; TFLM %d B head, %d B used", r.ArenaBytes, r.TotalBytes, head, used)
				}
				return
			}
			res, err := rewrite.Optimize(context.Background(), m, rewrite.Options{SRAM: sram, Split: split, Patches: c[2], MaxStages: stages, Target: target, Kernels: kernels,
				NoOfflinePlan: c[7] == "off"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(bytes.NewReader(res.Artifacts["summary.csv"])).ReadAll()
			if err != nil || len(recs) != 2 {
				t.Fatalf("summary.csv: %v", err)
			}
			col := map[string]string{}
			for i, h := range recs[0] {
				col[h] = recs[1][i]
			}
			if (c[6] != "-" && col["arena_bytes_after"] != c[6]) || col["arena_total_bytes_after"] != c[5] {
				t.Errorf("predicted %s B head, %s B whole; TFLM %d B head, %d B used", col["arena_bytes_after"], col["arena_total_bytes_after"], head, used)
			}
			d, _ := strconv.ParseInt(col["arena_declare_bytes_after"], 10, 64)
			if d%16 != 0 || d < used || d >= used+16 {
				t.Errorf("declare %d B for %d B used", d, used)
			}
			if sram > 0 && d > sram {
				t.Errorf("declare %d B over the %d B --sram budget", d, sram)
			}
		})
	}
	if err := sc.Err(); err != nil || rows < 20 {
		t.Fatalf("read %d rows: %v", rows, err)
	}
}

// sramName is the subtest name suffix of an --sram budget (none without one).
func sramName(sram int64) string {
	if sram == 0 {
		return ""
	}
	return "/sram-" + strconv.FormatInt(sram, 10)
}
