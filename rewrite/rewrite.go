// Package rewrite is the QuantMCU model rewriter: it replaces the memory-heavy first stage of
// a CNN by one patch-based, mixed-precision QMCU_PATCH_STAGE operator (DESIGN.md §3-§5).
//
// This file fixes the contract the built-in "quantmcu" plugin calls; the patch-stage rewrite
// itself is not implemented yet.
package rewrite

import (
	"context"
	"errors"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Options control one rewrite.
type Options struct {
	// SRAM is the memory budget in bytes for the TFLM arena; 0 means no budget (choose the
	// lowest peak whose compute overhead stays small).
	SRAM int64
	// Patches is the patch grid: "auto" or "RxC", e.g. "4x4".
	Patches string
	// Split is the number of leading operators in the patch stage; 0 chooses automatically.
	Split int
}

// Severity grades a Diagnostic.
type Severity int

// Severities.
const (
	Info Severity = iota + 1
	Warning
	Error
)

// Diagnostic is a message about the model, e.g. the reason an operator was not rewritten.
type Diagnostic struct {
	Severity Severity
	Subgraph int
	// Operator is the operator index, or -1 for the whole model.
	Operator int
	Message  string
}

// Result is a rewritten model with its reports.
type Result struct {
	Model *schema.ModelT
	// Artifacts are report files by name: "summary.csv", "per-layer.csv", "memory.svg".
	Artifacts map[string][]byte
	// Summary is a few lines for the user (peak memory and MACs before and after).
	Summary     string
	Diagnostics []Diagnostic
}

// ErrNotImplemented is returned by Optimize until the patch-stage rewrite lands.
var ErrNotImplemented = errors.New("the QuantMCU patch-stage rewrite is not implemented yet (issue 4)")

// Optimize rewrites m under opts, reporting progress through progress (which may be nil).
// m is not modified.
func Optimize(ctx context.Context, m *schema.ModelT, opts Options, progress func(msg string, fraction float64)) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, ErrNotImplemented
}
