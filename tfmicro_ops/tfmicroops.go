// Package tfmicroops executes QMCU_PATCH_STAGE plans (PLAN.md) on the host with the same
// portable C99 kernels that run on the microcontroller inside TFLM, compiled in through cgo:
// what the host simulates is what the MCU computes.
package tfmicroops

/*
#cgo CFLAGS: -std=c99 -O2 -Wall
#include "qmcu_plan.h"
#include "qmcu_patch_stage.h"
#include "qmcu_kernels.h"

// qmcu_go_check parses a plan and reports its custom-op inputs (at most cap of them).
static int qmcu_go_check(const int32_t *words, size_t n, int32_t *n_inputs, int32_t *types,
                         int32_t *bytes, int32_t cap, char *msg, size_t msg_len) {
	qmcu_plan p;
	int32_t i;
	int rc = qmcu_plan_parse(&p, words, n, msg, msg_len);
	if (rc != QMCU_OK) return rc;
	*n_inputs = p.n_inputs;
	for (i = 0; i < p.n_inputs && i < cap; i++) qmcu_plan_input_spec(&p, i, &types[i], &bytes[i]);
	return QMCU_OK;
}

// qmcu_go_eval parses a plan (the parsed view must not outlive the call: it would hold Go
// pointers) and runs it.
static int qmcu_go_eval(const int32_t *words, size_t n, const void *input, size_t input_bytes,
                        const void *const *consts, const size_t *const_bytes, int32_t n_consts,
                        void *output, size_t output_bytes, void *scratch, size_t scratch_bytes,
                        char *msg, size_t msg_len) {
	qmcu_plan p;
	int rc = qmcu_plan_parse(&p, words, n, msg, msg_len);
	if (rc != QMCU_OK) return rc;
	return qmcu_patch_stage_eval(&p, input, input_bytes, consts, const_bytes, n_consts, output,
	                             output_bytes, scratch, scratch_bytes, msg, msg_len);
}
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// Errors reported by Parse and Eval wrap one of these.
var (
	// ErrFormat: the bytes are not a version-1 plan (bad magic, version, or length).
	ErrFormat = errors.New("not a QMCU_PATCH_STAGE plan v1")
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
	Int8  ElemType = C.QMCU_TYPE_INT8
	Int32 ElemType = C.QMCU_TYPE_INT32
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
}

// Bytes is the size of the whole feature map.
func (f FeatureMap) Bytes() int { return f.H * f.W * f.C }

// LayerInfo summarizes one layer of the plan.
type LayerInfo struct {
	Kind         Kind
	In, In2, Out int // feature-map indices (In2 = -1 except for ADD)
}

// Plan is a validated QMCU_PATCH_STAGE plan.
type Plan struct {
	words  []int32
	fms    []FeatureMap
	layers []LayerInfo
	inputs []TensorSpec
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
	const maxInputs = 2*MaxLayers + 1
	var (
		n            C.int32_t
		types, bytes [maxInputs]C.int32_t
		msg          [msgLen]C.char
	)
	rc := C.qmcu_go_check((*C.int32_t)(unsafe.Pointer(&words[0])), C.size_t(len(words)), &n,
		&types[0], &bytes[0], maxInputs, &msg[0], msgLen)
	if err := codeError(rc, &msg[0]); err != nil {
		return nil, err
	}
	p := &Plan{words: words}
	nf := int(words[C.QMCU_H_FMS])
	fmBase := C.QMCU_HEADER_WORDS
	for f := range nf {
		w := words[fmBase+f*C.QMCU_FM_WORDS:]
		p.fms = append(p.fms, FeatureMap{H: int(w[C.QMCU_FM_H]), W: int(w[C.QMCU_FM_W]), C: int(w[C.QMCU_FM_C]), ZeroPoint: w[C.QMCU_FM_ZP]})
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

// Eval runs the stage: input is the stage input tensor, consts the op's inputs indexed by
// custom-op input index (consts[0] is ignored; int32 tensors as little-endian bytes), output
// the stage output tensor, scratch at least ScratchBytes() bytes. Every byte of output is
// written; nothing else is allocated.
func (p *Plan) Eval(input []byte, consts [][]byte, output, scratch []byte) error {
	if len(consts) < len(p.inputs) {
		return fmt.Errorf("%w: %d inputs, the plan wants %d", ErrTensor, len(consts), len(p.inputs))
	}
	for i := 1; i < len(p.inputs); i++ {
		if len(consts[i]) != p.inputs[i].Bytes {
			return fmt.Errorf("%w: input %d has %d bytes, the plan wants %d", ErrTensor, i, len(consts[i]), p.inputs[i].Bytes)
		}
	}
	if len(input) == 0 || len(output) == 0 {
		return fmt.Errorf("%w: empty input or output buffer", ErrTensor)
	}
	if len(scratch) < p.ScratchBytes() {
		return fmt.Errorf("%w: %d scratch bytes, the plan wants %d", ErrTensor, len(scratch), p.ScratchBytes())
	}
	// The constant pointers go to C inside a Go array: every one must be pinned.
	var pin runtime.Pinner
	defer pin.Unpin()
	ptrs := make([]unsafe.Pointer, len(p.inputs))
	for i := 1; i < len(p.inputs); i++ {
		pin.Pin(&consts[i][0])
		ptrs[i] = unsafe.Pointer(&consts[i][0])
	}
	var ptrArg *unsafe.Pointer
	if len(ptrs) > 0 {
		ptrArg = &ptrs[0]
	}
	var scratchPtr unsafe.Pointer
	if len(scratch) > 0 {
		scratchPtr = unsafe.Pointer(&scratch[0])
	}
	var msg [msgLen]C.char
	rc := C.qmcu_go_eval((*C.int32_t)(unsafe.Pointer(&p.words[0])), C.size_t(len(p.words)),
		unsafe.Pointer(&input[0]), C.size_t(len(input)), ptrArg, nil, C.int32_t(len(ptrs)),
		unsafe.Pointer(&output[0]), C.size_t(len(output)), scratchPtr, C.size_t(len(scratch)),
		&msg[0], msgLen)
	return codeError(rc, &msg[0])
}

// multiplyByQuantizedMultiplier exposes the C requantization to the tests.
func multiplyByQuantizedMultiplier(x, m, shift int32) int32 {
	return int32(C.qmcu_multiply_by_quantized_multiplier(C.int32_t(x), C.int32_t(m), C.int32_t(shift)))
}
