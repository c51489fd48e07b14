// Package precision is the precision spec of QuantMCU's low-bit branch (DESIGN.md §4): which
// feature map of the patch stage is checked for outliers and with which int8 thresholds, and,
// for every later stage map, the bitwidth and the real-valued range its low-bit codes cover.
// The VDQS search writes a spec, `quantmcu optimize --precision FILE` applies one, and the
// optimizer always writes the spec it used (`<name>_precision.json`), so results can be
// re-applied. The spec names maps by their original tensor names; rewrite/patch resolves it
// against a stage.
package precision

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Format and Version identify the document.
const (
	Format  = "quantmcu_precision"
	Version = 1
)

// MaxBytes bounds a spec document (a stage has at most 64 maps; 1 MiB is generous).
const MaxBytes = 1 << 20

// Spec is one precision spec.
type Spec struct {
	Format  string  `json:"format"`
	Version int     `json:"version"`
	Checked Checked `json:"checked"`
	// Maps gives the low-branch precision of stage maps after the checked one, by tensor
	// name. A map not listed keeps 8 bits and its int8 range. Maps written by PAD or pools
	// take their input's precision and cannot be listed.
	Maps map[string]Map `json:"maps"`
}

// Checked is the outlier test of VDPC: a tile is an outlier tile (and runs in int8) when a
// code of the checked map inside the tile lies outside [Lo, Hi]. Lo > Hi makes every tile an
// outlier tile.
type Checked struct {
	Tensor string `json:"tensor"`
	Lo     int    `json:"lo"`
	Hi     int    `json:"hi"`
	// OutlierRate, when set, is the fraction of outlier tiles measured on calibration data;
	// reports state BitOPs at this rate (informative).
	OutlierRate *float64 `json:"outlier_rate,omitempty"`
}

// Map is one feature map's low-branch precision: Bits in {8, 4, 2} and the real range
// [Min, Max] its codes cover (widened to include 0, as TFLite does, so that zero padding is
// exact).
type Map struct {
	Bits int     `json:"bits"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	// ChannelMax, when set, gives one scale per channel instead (per-channel low-bit
	// quantization): channel c covers [0, ChannelMax[c]], all channels sharing the zero point
	// of real 0; Min must be 0 and Max is the largest of them. Only maps written by a
	// convolution with a RELU/RELU6 and read by convolutions, depthwise convolutions, PAD or
	// pools qualify (the scales fold into multipliers and a low-branch weight copy).
	ChannelMax []float64 `json:"channel_max,omitempty"`
}

// ValidBits reports whether b is a supported low-branch bitwidth.
func ValidBits(b int) bool { return b == 8 || b == 4 || b == 2 }

// Parse reads and checks a spec document. Errors name the offending field.
func Parse(data []byte) (*Spec, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("precision spec: %d bytes, more than the %d a spec can have", len(data), MaxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("precision spec: %w", err)
	}
	if dec.More() {
		return nil, errors.New("precision spec: trailing data after the JSON document")
	}
	if err := s.Check(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Check validates what can be validated without the model.
func (s *Spec) Check() error {
	if s.Format != Format {
		return fmt.Errorf("precision spec: format %q, want %q", s.Format, Format)
	}
	if s.Version != Version {
		return fmt.Errorf("precision spec: version %d, this tool reads version %d", s.Version, Version)
	}
	c := s.Checked
	if c.Tensor == "" {
		return errors.New("precision spec: checked.tensor is empty")
	}
	if c.Lo < -128 || c.Lo > 127 || c.Hi < -128 || c.Hi > 127 {
		return fmt.Errorf("precision spec: checked thresholds lo %d, hi %d: want int8 codes (-128..127)", c.Lo, c.Hi)
	}
	if r := c.OutlierRate; r != nil && !(*r >= 0 && *r <= 1) {
		return fmt.Errorf("precision spec: checked.outlier_rate %g outside 0..1", *r)
	}
	for _, name := range s.Names() {
		m := s.Maps[name]
		if !ValidBits(m.Bits) {
			return fmt.Errorf("precision spec: map %q: bits %d, want 8, 4 or 2", name, m.Bits)
		}
		if math.IsNaN(m.Min) || math.IsNaN(m.Max) || math.IsInf(m.Min, 0) || math.IsInf(m.Max, 0) {
			return fmt.Errorf("precision spec: map %q: range [%g, %g] is not finite", name, m.Min, m.Max)
		}
		if m.Min > m.Max {
			return fmt.Errorf("precision spec: map %q: min %g > max %g", name, m.Min, m.Max)
		}
		if m.Min == m.Max && m.Min == 0 {
			return fmt.Errorf("precision spec: map %q: range [0, 0] is empty", name)
		}
		if math.Abs(m.Min) > 1e30 || math.Abs(m.Max) > 1e30 {
			return fmt.Errorf("precision spec: map %q: range [%g, %g] is beyond float32 scales", name, m.Min, m.Max)
		}
		if m.ChannelMax != nil {
			if m.Min != 0 {
				return fmt.Errorf("precision spec: map %q: per-channel ranges start at 0, min is %g", name, m.Min)
			}
			for c, v := range m.ChannelMax {
				if !(v > 0 && v <= 1e30) {
					return fmt.Errorf("precision spec: map %q: channel_max[%d] = %g, want a positive finite number", name, c, v)
				}
			}
		}
	}
	return nil
}

// Names lists the maps of the spec in sorted order.
func (s *Spec) Names() []string {
	names := make([]string, 0, len(s.Maps))
	for n := range s.Maps {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Marshal writes the spec as indented JSON (keys sorted: deterministic), ending in a newline.
func (s *Spec) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("precision spec: %w", err)
	}
	return append(b, '\n'), nil
}

// Summary is a short description, e.g. "checked conv1 [-90, 100], 12 maps: 8 at 4 bits, 4 at 8 bits".
func (s *Spec) Summary() string {
	count := map[int]int{}
	for _, m := range s.Maps {
		count[m.Bits]++
	}
	var parts []string
	for _, b := range []int{2, 4, 8} {
		if count[b] > 0 {
			parts = append(parts, fmt.Sprintf("%d at %d bits", count[b], b))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "none listed")
	}
	return fmt.Sprintf("checked %q [%d, %d], %d maps: %s", s.Checked.Tensor, s.Checked.Lo, s.Checked.Hi, len(s.Maps), strings.Join(parts, ", "))
}
