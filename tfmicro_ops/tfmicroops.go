// Package tfmicroops executes QMCU_PATCH_STAGE plans (PLAN.md) on the host with the same
// portable C99 kernels that run on the microcontroller inside TFLM, compiled in through cgo:
// what the host simulates is what the MCU computes. On x86-64 CPUs with AVX2 the hot loops
// run as vector code instead (qmcu_kernels.c, QMCU_HOST_SIMD), computing the same bytes.
package tfmicroops

/*
#cgo CFLAGS: -std=c99 -O3 -Wall -DQMCU_HOST_SIMD -DQMCU_COL_MAX=4096
#include <stdlib.h>
#include <string.h>
#include "qmcu_plan.h"
#include "qmcu_patch_stage.h"
#include "qmcu_kernels.h"

// qmcu_go_input_specs reports a parsed plan's custom-op inputs (at most cap of them).
static void qmcu_go_input_specs(const qmcu_plan *p, int32_t *types, int32_t *bytes, int32_t cap) {
	int32_t i;
	for (i = 0; i < p->n_inputs && i < cap; i++) qmcu_plan_input_spec(p, i, &types[i], &bytes[i]);
}
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Errors reported by Parse and Eval wrap one of these.
var (
	// ErrFormat: the bytes are not a plan this package reads (bad magic, version, or length).
	ErrFormat = errors.New("not a QMCU_PATCH_STAGE plan of version 1 or 2")
	// ErrPlan: the plan is inconsistent or out of range.
	ErrPlan = errors.New("invalid plan")
	// ErrLimit: the plan exceeds this implementation's limits (layers, tiles, sizes).
	ErrLimit = errors.New("plan beyond kernel limits")
	// ErrTensor: the buffers given to Eval do not match the plan.
	ErrTensor = errors.New("tensors do not match the plan")
)

// Implementation limits of the C kernels.
const (
	MaxLayers = C.QMCU_MAX_LAYERS
	MaxTiles  = C.QMCU_MAX_TILES
	MaxDim    = C.QMCU_MAX_DIM
)

// Kind is a layer kind of the plan (PLAN.md layer word 0).
type Kind int32

// Layer kinds.
const (
	Conv2D          Kind = C.QMCU_CONV_2D
	DepthwiseConv2D Kind = C.QMCU_DEPTHWISE_CONV_2D
	Add             Kind = C.QMCU_ADD
	Pad             Kind = C.QMCU_PAD
	MaxPool2D       Kind = C.QMCU_MAX_POOL_2D
	AveragePool2D   Kind = C.QMCU_AVERAGE_POOL_2D
	// Quantize is layer 0 of a plan whose stage input is float32 (PLAN.md, "QUANTIZE").
	Quantize Kind = C.QMCU_QUANTIZE
)

// String returns the TFLite operator name of the kind.
func (k Kind) String() string { return C.GoString(C.qmcu_kind_name(C.int32_t(k))) }

// Layout is the memory layout of the stage input tensor.
type Layout int32

// Input layouts.
const (
	NHWC Layout = C.QMCU_LAYOUT_NHWC
	NCHW Layout = C.QMCU_LAYOUT_NCHW
)

// ElemType is the element type of one of the op's tensors.
type ElemType int32

// Element types.
const (
	Int8    ElemType = C.QMCU_TYPE_INT8
	Int32   ElemType = C.QMCU_TYPE_INT32
	Float32 ElemType = C.QMCU_TYPE_FLOAT32 // the stage input of a plan starting with a QUANTIZE
)

// TensorSpec is what the plan expects of one custom-op input.
type TensorSpec struct {
	Type  ElemType
	Bytes int
}

// FeatureMap is one activation of the stage (batch 1; H x W x C int8).
type FeatureMap struct {
	H, W, C   int
	ZeroPoint int32
	// LowBits and LowZeroPoint are the map's format in the low branch (PLAN.md version 2):
	// 8 and ZeroPoint for maps that stay int8.
	LowBits      int
	LowZeroPoint int32
}

// Bytes is the size of the whole feature map.
func (f FeatureMap) Bytes() int { return f.H * f.W * f.C }

// LayerInfo summarizes one layer of the plan.
type LayerInfo struct {
	Kind         Kind
	In, In2, Out int // feature-map indices (In2 = -1 except for ADD)
}

// Plan is a validated QMCU_PATCH_STAGE plan. It is parsed once: the words and the parsed view
// live in C memory (freed when the Plan is garbage collected), so evaluations only run.
type Plan struct {
	words  []int32
	fms    []FeatureMap
	layers []LayerInfo
	inputs []TensorSpec
	c      *cPlan
}

// cPlan owns the C copy of the plan words and the parsed view pointing into them.
type cPlan struct {
	words *C.int32_t
	view  *C.qmcu_plan
}

func (c *cPlan) free() {
	C.free(unsafe.Pointer(c.view))
	C.free(unsafe.Pointer(c.words))
}

const msgLen = 256

// Parse validates a binary plan (the "plan" blob of the op's custom options) and returns it.
// The bytes are copied.
func Parse(plan []byte) (*Plan, error) {
	if len(plan) == 0 || len(plan)%4 != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of 32-bit words", ErrFormat, len(plan))
	}
	words := make([]int32, len(plan)/4)
	for i := range words {
		words[i] = int32(binary.LittleEndian.Uint32(plan[4*i:]))
	}
	const maxInputs = 3*MaxLayers + 1
	var (
		types, bytes [maxInputs]C.int32_t
		msg          [msgLen]C.char
	)
	c := &cPlan{
		words: (*C.int32_t)(C.malloc(C.size_t(4 * len(words)))),
		view:  (*C.qmcu_plan)(C.malloc(C.size_t(unsafe.Sizeof(C.qmcu_plan{})))),
	}
	if c.words == nil || c.view == nil {
		c.free()
		return nil, fmt.Errorf("%w: out of C memory for a %d-word plan", ErrLimit, len(words))
	}
	copy(unsafe.Slice((*int32)(unsafe.Pointer(c.words)), len(words)), words)
	rc := C.qmcu_plan_parse(c.view, c.words, C.size_t(len(words)), &msg[0], msgLen)
	if err := codeError(rc, &msg[0]); err != nil {
		c.free()
		return nil, err
	}
	C.qmcu_go_input_specs(c.view, &types[0], &bytes[0], maxInputs)
	n := c.view.n_inputs
	p := &Plan{words: words, c: c}
	runtime.AddCleanup(p, func(c *cPlan) { c.free() }, c)
	nf := int(words[C.QMCU_H_FMS])
	fmBase := C.QMCU_HEADER_WORDS
	for f := range nf {
		w := words[fmBase+f*C.QMCU_FM_WORDS:]
		fm := FeatureMap{H: int(w[C.QMCU_FM_H]), W: int(w[C.QMCU_FM_W]), C: int(w[C.QMCU_FM_C]), ZeroPoint: w[C.QMCU_FM_ZP],
			LowBits: int(w[C.QMCU_FM_LOW_BITS]), LowZeroPoint: w[C.QMCU_FM_LOW_ZP]}
		if fm.LowBits == 0 { // version 1
			fm.LowBits, fm.LowZeroPoint = 8, fm.ZeroPoint
		}
		p.fms = append(p.fms, fm)
	}
	pos := fmBase + nf*C.QMCU_FM_WORDS
	for range int(words[C.QMCU_H_LAYERS]) {
		w := words[pos:]
		p.layers = append(p.layers, LayerInfo{Kind: Kind(w[C.QMCU_L_KIND]), In: int(w[C.QMCU_L_IN]), In2: int(w[C.QMCU_L_IN2]), Out: int(w[C.QMCU_L_OUT])})
		pos += C.QMCU_LAYER_WORDS + 2*int(w[C.QMCU_L_CHANNELS])
	}
	for i := range int(n) {
		p.inputs = append(p.inputs, TensorSpec{Type: ElemType(types[i]), Bytes: int(bytes[i])})
	}
	return p, nil
}

func codeError(rc C.int, msg *C.char) error {
	if rc == C.QMCU_OK {
		return nil
	}
	text := C.GoString(msg)
	switch rc {
	case C.QMCU_E_FORMAT:
		return fmt.Errorf("%w: %s", ErrFormat, text)
	case C.QMCU_E_PLAN:
		return fmt.Errorf("%w: %s", ErrPlan, text)
	case C.QMCU_E_LIMIT:
		return fmt.Errorf("%w: %s", ErrLimit, text)
	case C.QMCU_E_TENSOR:
		return fmt.Errorf("%w: %s", ErrTensor, text)
	}
	return fmt.Errorf("tfmicroops: %s (code %d)", text, int(rc))
}

// ScratchBytes is the arena scratch the op needs.
func (p *Plan) ScratchBytes() int { return int(p.words[C.QMCU_H_SCRATCH]) }

// Layout is the layout of the stage input tensor.
func (p *Plan) Layout() Layout { return Layout(p.words[C.QMCU_H_LAYOUT]) }

// NumTiles is the number of tiles.
func (p *Plan) NumTiles() int { return int(p.words[C.QMCU_H_TILES]) }

// FeatureMaps returns the stage's feature maps: [0] the stage input (NHWC view), the last one
// the stage output.
func (p *Plan) FeatureMaps() []FeatureMap { return append([]FeatureMap(nil), p.fms...) }

// Layers returns a summary of the stage's layers in execution order.
func (p *Plan) Layers() []LayerInfo { return append([]LayerInfo(nil), p.layers...) }

// NumInputs is the number of custom-op inputs: the stage input and the constant tensors.
func (p *Plan) NumInputs() int { return len(p.inputs) }

// Input returns what the plan expects of custom-op input i (0 = stage input).
func (p *Plan) Input(i int) (TensorSpec, error) {
	if i < 0 || i >= len(p.inputs) {
		return TensorSpec{}, fmt.Errorf("input %d outside 0..%d", i, len(p.inputs)-1)
	}
	return p.inputs[i], nil
}

// Window returns the window [r0, r1) x [c0, c1) of feature map f computed in tile t.
func (p *Plan) Window(t, f int) (r0, r1, c0, c1 int, err error) {
	if t < 0 || t >= p.NumTiles() || f < 0 || f >= len(p.fms) {
		return 0, 0, 0, 0, fmt.Errorf("tile %d / feature map %d out of range", t, f)
	}
	n := len(p.words) - p.NumTiles()*len(p.fms)*C.QMCU_WINDOW_WORDS
	w := p.words[n+(t*len(p.fms)+f)*C.QMCU_WINDOW_WORDS:]
	return int(w[0]), int(w[1]), int(w[2]), int(w[3]), nil
}

// Version is the plan's format version (1 or 2).
func (p *Plan) Version() int { return int(p.c.view.version) }

// Checked is the checked feature map k of a version-2 plan's low branch, 0 when there is no
// low branch.
func (p *Plan) Checked() int { return int(p.c.view.checked) }

// Thresholds are the int8 codes [lo, hi] of the checked map outside which a tile is an
// outlier tile (lo > hi: every tile is).
func (p *Plan) Thresholds() (lo, hi int) { return int(p.c.view.lo), int(p.c.view.hi) }

// LowScratchBytes is the scratch the low branch touches at most (version 2; informative).
func (p *Plan) LowScratchBytes() int { return int(p.c.view.low_scratch_bytes) }

// Stats is what evaluations did: tiles run and how many of them were outlier tiles.
type Stats struct {
	Tiles, OutlierTiles int
}

// Eval runs the stage: input is the stage input tensor, consts the op's inputs indexed by
// custom-op input index (consts[0] is ignored; int32 tensors as little-endian bytes), output
// the stage output tensor, scratch at least ScratchBytes() bytes. Every byte of output is
// written; nothing else is allocated. It binds the constants for one call; use Bind to run
// many times.
func (p *Plan) Eval(input []byte, consts [][]byte, output, scratch []byte) (Stats, error) {
	s, err := p.Bind(consts)
	if err != nil {
		return Stats{}, err
	}
	defer s.Close()
	return s.Run(input, output, [][]byte{scratch})
}

// Stage is a plan bound to its constant tensors, ready to run many times (TFLM's Prepare).
// Its methods may be called concurrently.
type Stage struct {
	plan    *Plan
	mem     unsafe.Pointer // C copies of the constants, the pointer table, the prepared data
	ptrs    *unsafe.Pointer
	prep    unsafe.Pointer // qmcu_patch_stage_prepare's data, or nil
	cleanup runtime.Cleanup
}

// Bind checks consts against the plan (sizes per custom-op input index; consts[0] is
// ignored) and copies them into C memory, with the weights rearranged for the host's vector
// loops where they use that.
func (p *Plan) Bind(consts [][]byte) (*Stage, error) {
	if len(consts) < len(p.inputs) {
		return nil, fmt.Errorf("%w: %d inputs, the plan wants %d", ErrTensor, len(consts), len(p.inputs))
	}
	total := 0
	for i := 1; i < len(p.inputs); i++ {
		if len(consts[i]) != p.inputs[i].Bytes {
			return nil, fmt.Errorf("%w: input %d has %d bytes, the plan wants %d", ErrTensor, i, len(consts[i]), p.inputs[i].Bytes)
		}
		total += (len(consts[i]) + 15) &^ 15
	}
	tableBytes := (len(p.inputs)*int(unsafe.Sizeof(unsafe.Pointer(nil))) + 31) &^ 31
	prepBytes := int(C.qmcu_patch_stage_prepared_bytes(p.c.view))
	mem := C.malloc(C.size_t(total + tableBytes + prepBytes + 16))
	if mem == nil {
		return nil, fmt.Errorf("%w: out of C memory for %d bytes of constants", ErrLimit, total+prepBytes)
	}
	table := unsafe.Slice((*unsafe.Pointer)(unsafe.Add(mem, total)), len(p.inputs))
	table[0] = nil
	at := 0
	for i := 1; i < len(p.inputs); i++ {
		dst := unsafe.Add(mem, at)
		copy(unsafe.Slice((*byte)(dst), len(consts[i])), consts[i])
		table[i] = dst
		at += (len(consts[i]) + 15) &^ 15
	}
	s := &Stage{plan: p, mem: mem, ptrs: &table[0]}
	if prepBytes > 0 {
		s.prep = unsafe.Add(mem, total+tableBytes)
		C.qmcu_patch_stage_prepare(p.c.view, s.ptrs, s.prep)
	}
	s.cleanup = runtime.AddCleanup(s, func(m unsafe.Pointer) { C.free(m) }, mem)
	return s, nil
}

// Close releases the C memory now instead of at garbage collection. The Stage must not be
// used afterwards, nor concurrently with Close.
func (s *Stage) Close() {
	if s.mem == nil {
		return
	}
	s.cleanup.Stop()
	C.free(s.mem)
	s.mem, s.ptrs, s.prep = nil, nil, nil
}

// Run computes the output from the input, spreading the tiles over len(scratch) workers
// (each scratch region at least ScratchBytes() bytes; one region runs single-threaded, in
// tile order, and only then may output overlap input as an offline arena plan places them:
// PLAN.md, "What a tile touches").
func (s *Stage) Run(input, output []byte, scratch [][]byte) (Stats, error) {
	return s.run(input, output, scratch, 0)
}

// runPortable is the qmcu_patch_stage_run flag that keeps to the portable C loops.
const runPortable = C.QMCU_RUN_PORTABLE

// run is Run with qmcu_patch_stage_run flags.
func (s *Stage) run(input, output []byte, scratch [][]byte, flags int32) (Stats, error) {
	p := s.plan
	if s.mem == nil {
		return Stats{}, fmt.Errorf("tfmicroops: stage used after Close")
	}
	if len(scratch) == 0 {
		return Stats{}, fmt.Errorf("%w: no scratch region", ErrTensor)
	}
	if len(input) == 0 || len(output) == 0 {
		return Stats{}, fmt.Errorf("%w: empty input or output buffer", ErrTensor)
	}
	if len(scratch) > 1 && overlap(input, output) {
		return Stats{}, fmt.Errorf("%w: input and output overlap: run them with one scratch region (tiles in order)", ErrTensor)
	}
	for _, sc := range scratch {
		if len(sc) < p.ScratchBytes() {
			return Stats{}, fmt.Errorf("%w: %d scratch bytes, the plan wants %d", ErrTensor, len(sc), p.ScratchBytes())
		}
	}
	var msg [msgLen]C.char
	rc := C.qmcu_patch_stage_check(p.c.view, unsafe.Pointer(&input[0]), C.size_t(len(input)), s.ptrs, nil,
		C.int32_t(len(p.inputs)), unsafe.Pointer(&output[0]), C.size_t(len(output)), scratchPtr(scratch[0]),
		C.size_t(len(scratch[0])), &msg[0], msgLen)
	if err := codeError(rc, &msg[0]); err != nil {
		return Stats{}, err
	}
	n := p.NumTiles()
	workers := min(len(scratch), n)
	stats := make([]C.qmcu_stats, workers)
	codes := make([]C.int, workers)
	runTiles := func(w, first, end int) C.int {
		return C.qmcu_patch_stage_run(p.c.view, unsafe.Pointer(&input[0]), s.ptrs, unsafe.Pointer(&output[0]),
			scratchPtr(scratch[w]), C.int32_t(first), C.int32_t(end), 1, s.prep, C.int32_t(flags), &stats[w])
	}
	if workers == 1 {
		codes[0] = runTiles(0, 0, n)
	} else {
		// Tiles differ in cost (halos, borders): each worker takes the next tile not yet taken.
		var next atomic.Int32
		work := func(w int) {
			for {
				t := int(next.Add(1)) - 1
				if t >= n {
					return
				}
				if codes[w] = runTiles(w, t, t+1); codes[w] != C.QMCU_OK {
					return
				}
			}
		}
		var wg sync.WaitGroup
		for w := 1; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				work(w)
			}()
		}
		work(0)
		wg.Wait()
	}
	runtime.KeepAlive(s)
	var st Stats
	for w := range workers {
		if codes[w] != C.QMCU_OK {
			return Stats{}, fmt.Errorf("%w: empty average pool window", ErrPlan)
		}
		st.Tiles += int(stats[w].tiles)
		st.OutlierTiles += int(stats[w].outlier_tiles)
	}
	return st, nil
}

// overlap reports whether two non-empty byte slices share memory.
func overlap(a, b []byte) bool {
	pa, pb := uintptr(unsafe.Pointer(&a[0])), uintptr(unsafe.Pointer(&b[0]))
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}

func scratchPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// multiplyByQuantizedMultiplier exposes the C requantization to the tests.
func multiplyByQuantizedMultiplier(x, m, shift int32) int32 {
	return int32(C.qmcu_multiply_by_quantized_multiplier(C.int32_t(x), C.int32_t(m), C.int32_t(shift)))
}
