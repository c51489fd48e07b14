// Package interp executes TFLite models on the host with the exact arithmetic of TFLM's
// portable reference kernels: the same fixed-point requantization (QuantizeMultiplier,
// MultiplyByQuantizedMultiplier with TFLM's default double rounding), saturation,
// fused-activation clamping, zero-point padding and float evaluation order, so that outputs
// match TFLM byte for byte. It covers the builtin operators CNN-style vision and audio
// models use, in the type combinations TFLM's reference kernels accept: int8, int16
// activations with int8 weights (16x8), float32 and int32 where they apply; SVDF state
// persists across invocations as in TFLM. testdata/ops holds one golden case per operator
// and option family, produced by a real TFLM build. Unsupported reports what a model needs
// beyond that, each refusal one line naming the operator, as TFLM's Prepare does.
//
// New checks every operator of subgraph 0 before anything runs and precomputes per-channel
// multipliers, folded biases and widened weights; Invoke then runs without allocating
// activation memory. An Interpreter is not safe for concurrent use: Clone it per goroutine.
package interp

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Option configures an Interpreter.
type Option func(*config)

type config struct {
	threads int
}

// WithThreads sets the intra-op parallelism used for large convolutions (default
// runtime.NumCPU()). Values below 1 mean 1.
func WithThreads(n int) Option {
	return func(c *config) { c.threads = max(n, 1) }
}

// TensorInfo describes one tensor of the model.
type TensorInfo struct {
	Index     int
	Name      string
	Type      schema.TensorType
	Shape     []int32
	Scale     []float32 // empty if not quantized
	ZeroPoint []int64   // empty if not quantized
	Bytes     int
}

// Tensor is a tensor's current contents as seen by a Hook.
type Tensor struct {
	Index int
	Info  *TensorInfo
	Data  []byte // valid only during the hook call
}

// Hook is called after each operator with the operator's index and its output tensors.
type Hook func(op int, outputs []Tensor)

// Interpreter runs one model. Create it with New; use Clone for one interpreter per goroutine.
type Interpreter struct {
	p       *program
	data    [][]byte // per tensor: constant data (shared) or this interpreter's buffer
	scratch [][]byte // one scratch region per worker thread
	threads int
	hook    Hook
	hookBuf []Tensor
}

// program is the immutable, prepared form of a model, shared by clones.
type program struct {
	infos     []TensorInfo
	constant  [][]byte // per tensor: non-nil for constant tensors
	ops       []preparedOp
	inputs    []int
	outputs   []int
	scratch   int // bytes of scratch one worker needs
	maxHookN  int
	activeSet []int // non-constant tensors that need a buffer
	// patchStages are the QMCU_PATCH_STAGE kernels, for PatchStageStats.
	patchStages []*patchStageKernel
	variables   []variable
}

// variable is a state tensor (is_variable) and the byte it is reset to.
type variable struct {
	index int
	fill  byte
}

type preparedOp struct {
	index   int
	name    string
	k       kernel
	outputs []int
}

// kernel is one prepared operator.
type kernel interface {
	run(x *execCtx)
}

// execCtx is what a kernel sees while running.
type execCtx struct {
	data    [][]byte
	scratch [][]byte
	threads int
	// err is set by a kernel that failed (only kernels calling into C can); Invoke stops.
	err error
}

// New prepares subgraph 0 of m for execution. It checks every operator (supported op,
// tensor types, shapes and options) before returning; the error names the operator index,
// its name and what is missing.
func New(m *schema.ModelT, opts ...Option) (*Interpreter, error) {
	cfg := config{threads: runtime.NumCPU()}
	for _, o := range opts {
		o(&cfg)
	}
	if m == nil {
		return nil, fmt.Errorf("interp: model is nil")
	}
	if err := tflite.Validate(m); err != nil {
		return nil, fmt.Errorf("interp: %w", err)
	}
	p, err := prepare(m)
	if err != nil {
		return nil, fmt.Errorf("interp: %w", err)
	}
	it := &Interpreter{p: p, threads: cfg.threads}
	it.alloc()
	return it, nil
}

func (it *Interpreter) alloc() {
	p := it.p
	it.data = make([][]byte, len(p.infos))
	for i, c := range p.constant {
		it.data[i] = c
	}
	for _, i := range p.activeSet {
		it.data[i] = make([]byte, p.infos[i].Bytes)
	}
	it.ResetState()
	it.scratch = make([][]byte, it.threads)
	for i := range it.scratch {
		it.scratch[i] = make([]byte, p.scratch)
	}
	it.hookBuf = make([]Tensor, 0, p.maxHookN)
}

// Clone returns an independent interpreter for the same model that shares constant data
// with it (weights, precomputed multipliers) but owns its activation buffers. The hook is
// not copied.
func (it *Interpreter) Clone() *Interpreter {
	c := &Interpreter{p: it.p, threads: it.threads}
	c.alloc()
	return c
}

// ResetState resets the model's state tensors (SVDF activation state and other is_variable
// tensors) as TFLM's ResetVariableTensors does; New and Clone start from this state, and
// each Invoke carries it on, as TFLM does.
func (it *Interpreter) ResetState() {
	for _, v := range it.p.variables {
		d := it.data[v.index]
		for i := range d {
			d[i] = v.fill
		}
	}
}

// SetHook installs h (nil removes it); it is called after every operator.
func (it *Interpreter) SetHook(h Hook) { it.hook = h }

// Inputs describes the model's input tensors in order.
func (it *Interpreter) Inputs() []TensorInfo { return it.p.infoList(it.p.inputs) }

// Outputs describes the model's output tensors in order.
func (it *Interpreter) Outputs() []TensorInfo { return it.p.infoList(it.p.outputs) }

func (p *program) infoList(idx []int) []TensorInfo {
	out := make([]TensorInfo, len(idx))
	for i, t := range idx {
		out[i] = p.infos[t]
		out[i].Shape = append([]int32(nil), p.infos[t].Shape...)
		out[i].Scale = append([]float32(nil), p.infos[t].Scale...)
		out[i].ZeroPoint = append([]int64(nil), p.infos[t].ZeroPoint...)
	}
	return out
}

// Invoke runs the model on inputs (raw little-endian tensor bytes, one slice per model
// input, each exactly the tensor's size) and returns copies of the output tensors.
func (it *Interpreter) Invoke(inputs ...[]byte) ([][]byte, error) {
	p := it.p
	if len(inputs) != len(p.inputs) {
		return nil, fmt.Errorf("interp: model has %d input(s), got %d", len(p.inputs), len(inputs))
	}
	for i, t := range p.inputs {
		info := &p.infos[t]
		if len(inputs[i]) != info.Bytes {
			return nil, fmt.Errorf("interp: input %d (%q, %s%s) needs %d bytes, got %d", i, info.Name,
				tflite.TypeName(info.Type), tflite.FormatShape(info.Shape), info.Bytes, len(inputs[i]))
		}
		copy(it.data[t], inputs[i])
	}
	x := &execCtx{data: it.data, scratch: it.scratch, threads: it.threads}
	for _, op := range p.ops {
		op.k.run(x)
		if x.err != nil {
			return nil, fmt.Errorf("interp: operator %d (%s): %w", op.index, op.name, x.err)
		}
		if it.hook != nil {
			ts := it.hookBuf[:0]
			for _, o := range op.outputs {
				ts = append(ts, Tensor{Index: o, Info: &p.infos[o], Data: it.data[o]})
			}
			it.hook(op.index, ts)
		}
	}
	out := make([][]byte, len(p.outputs))
	for i, t := range p.outputs {
		out[i] = append([]byte(nil), it.data[t]...)
	}
	return out, nil
}

// parallel runs fn over [0, n) split into contiguous chunks, one per worker, when the
// context has more than one thread and the work (in multiply-accumulates) is large enough
// to pay for the goroutines; fn gets the worker index for its scratch region.
func (x *execCtx) parallel(n int, work int64, fn func(worker, lo, hi int)) {
	const minWorkPerThread = 1 << 18
	t := x.threads
	if int64(t)*minWorkPerThread > work {
		t = int(work / minWorkPerThread)
	}
	t = min(t, n)
	if t <= 1 {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range t {
		lo, hi := n*w/t, n*(w+1)/t
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(w, lo, hi)
		}()
	}
	wg.Wait()
}
