package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
	"github.com/quantmcu/quantmcu/tflite/schema"
	tfmicroops "github.com/quantmcu/quantmcu/tfmicro_ops"
)

// inspectStage describes one QMCU_PATCH_STAGE operator from its plan (JSON key
// "patch_stages" of `quantmcu inspect`).
type inspectStage struct {
	Op              int          `json:"op"`
	PlanVersion     int          `json:"plan_version"`
	Tiles           int          `json:"tiles"`
	Grid            []int64      `json:"grid,omitempty"`
	ScratchBytes    int          `json:"scratch_bytes"`
	LowBranch       bool         `json:"low_branch"`
	CheckedFM       int          `json:"checked_fm,omitempty"`
	CheckedTensor   string       `json:"checked_tensor,omitempty"`
	OutlierLo       *int         `json:"outlier_lo,omitempty"`
	OutlierHi       *int         `json:"outlier_hi,omitempty"`
	LowScratchBytes int          `json:"low_scratch_bytes,omitempty"`
	FeatureMaps     []inspectMap `json:"feature_maps"`
	Error           string       `json:"error,omitempty"`
}

// inspectMap is one feature map of a patch stage and its low-branch format.
type inspectMap struct {
	FM           int    `json:"fm"`
	Tensor       string `json:"tensor,omitempty"`
	Shape        []int  `json:"shape"` // H, W, C
	ZeroPoint    int32  `json:"zero_point"`
	LowBits      int    `json:"low_bits"`
	LowZeroPoint int32  `json:"low_zero_point"`
}

// patchStages describes every QMCU_PATCH_STAGE operator of subgraph 0. A plan that does not
// parse is described by its error (inspect never fails on it; run and optimize refuse it).
func patchStages(m *schema.ModelT) []inspectStage {
	var out []inspectStage
	if m == nil || len(m.Subgraphs) == 0 || m.Subgraphs[0] == nil {
		return nil
	}
	for oi, op := range m.Subgraphs[0].Operators {
		if op == nil || int(op.OpcodeIndex) >= len(m.OperatorCodes) {
			continue
		}
		oc := m.OperatorCodes[op.OpcodeIndex]
		if tflite.BuiltinCode(oc) != schema.BuiltinOperatorCUSTOM || oc.CustomCode != "QMCU_PATCH_STAGE" {
			continue
		}
		out = append(out, describeStage(oi, op.CustomOptions))
	}
	return out
}

func describeStage(oi int, options []byte) inspectStage {
	s := inspectStage{Op: oi, FeatureMaps: []inspectMap{}}
	root, err := flexbuffers.Root(options)
	var blob []byte
	if err == nil {
		var v flexbuffers.Value
		if v, err = root.Get("plan"); err == nil {
			blob, err = v.Blob()
		}
	}
	if err != nil {
		s.Error = "custom options: " + err.Error()
		return s
	}
	p, err := tfmicroops.Parse(blob)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	var names []string
	if v, err := root.Get("fm_names"); err == nil {
		if n, err := v.Len(); err == nil {
			for i := range n {
				e, _ := v.Index(i)
				name, _ := e.String()
				names = append(names, name)
			}
		}
	}
	if v, err := root.Get("grid"); err == nil {
		if d, err := v.Decode(); err == nil {
			if g, ok := d.([]int64); ok {
				s.Grid = g
			}
		}
	}
	s.PlanVersion, s.Tiles, s.ScratchBytes = p.Version(), p.NumTiles(), p.ScratchBytes()
	if k := p.Checked(); k > 0 {
		lo, hi := p.Thresholds()
		s.LowBranch, s.CheckedFM, s.OutlierLo, s.OutlierHi, s.LowScratchBytes = true, k, &lo, &hi, p.LowScratchBytes()
		if k < len(names) {
			s.CheckedTensor = names[k]
		}
	}
	for f, fm := range p.FeatureMaps() {
		im := inspectMap{FM: f, Shape: []int{fm.H, fm.W, fm.C}, ZeroPoint: fm.ZeroPoint, LowBits: fm.LowBits, LowZeroPoint: fm.LowZeroPoint}
		if f < len(names) {
			im.Tensor = names[f]
		}
		s.FeatureMaps = append(s.FeatureMaps, im)
	}
	return s
}

// writeStages prints the patch-stage section of the inspect table.
func writeStages(w io.Writer, stages []inspectStage) {
	for _, s := range stages {
		if s.Error != "" {
			fmt.Fprintf(w, "\nQMCU_PATCH_STAGE op %d: plan does not parse: %s\n", s.Op, oneCell(s.Error))
			continue
		}
		grid := ""
		if len(s.Grid) == 2 {
			grid = fmt.Sprintf(" (%dx%d)", s.Grid[0], s.Grid[1])
		}
		fmt.Fprintf(w, "\nQMCU_PATCH_STAGE op %d: plan v%d, %d tiles%s, scratch %s B", s.Op, s.PlanVersion, s.Tiles, grid, grouped(int64(s.ScratchBytes)))
		if !s.LowBranch {
			fmt.Fprintf(w, ", int8 only\n")
			continue
		}
		fmt.Fprintf(w, " (low branch touches %s B)\n", grouped(int64(s.LowScratchBytes)))
		rule := fmt.Sprintf("a code outside [%d, %d]", *s.OutlierLo, *s.OutlierHi)
		if *s.OutlierLo > *s.OutlierHi {
			rule = "always (empty range)"
		}
		fmt.Fprintf(w, "  outlier test: fm %d %s; a tile runs int8 on %s, else the low branch\n", s.CheckedFM, oneCell(s.CheckedTensor), rule)
		var tt table
		tt.row("  fm\ttensor\tshape\tint8 zp\tlow bits\tlow zp")
		for _, m := range s.FeatureMaps {
			bits := fmt.Sprint(m.LowBits)
			if m.FM <= s.CheckedFM || m.FM == len(s.FeatureMaps)-1 {
				bits = "8 (int8)"
			}
			tt.row("  %d\t%s\t%s\t%d\t%s\t%d", m.FM, oneCell(m.Tensor), strings.Trim(strings.ReplaceAll(fmt.Sprint(m.Shape), " ", "x"), "[]"), m.ZeroPoint, bits, m.LowZeroPoint)
		}
		tt.writeTo(w)
	}
}
