package interp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// maxActivationBytes bounds the activation and scratch memory of one interpreter.
const maxActivationBytes = 4 << 30

// prep carries the model while operators are checked and prepared.
type prep struct {
	m       *schema.ModelT
	sg      *schema.SubGraphT
	p       *program
	op      *schema.OperatorT
	opIndex int
	opName  string
}

// OpProblem is one operator the interpreter cannot run, and why.
type OpProblem struct {
	Index  int    `json:"index"`
	Op     string `json:"op"`
	Reason string `json:"reason"`
}

// Unsupported lists the operators of subgraph 0 that New would refuse, each with TFLM's
// kind of one-line reason, checking every operator (New stops at the first). A model
// whose structure is invalid returns that error instead.
func Unsupported(m *schema.ModelT) ([]OpProblem, error) {
	if m == nil {
		return nil, fmt.Errorf("interp: model is nil")
	}
	if err := tflite.Validate(m); err != nil {
		return nil, fmt.Errorf("interp: %w", err)
	}
	problems := []OpProblem{}
	if _, err := prepareCollect(m, &problems); err != nil {
		var oe *opError
		if !errors.As(err, &oe) {
			return problems, nil // model-level limits (sizes, outputs never written) are not operator problems
		}
		problems = append(problems, OpProblem{Index: oe.index, Op: oe.name, Reason: oe.msg})
	}
	return problems, nil
}

func opReason(err error) string {
	var oe *opError
	if errors.As(err, &oe) {
		return oe.msg
	}
	return err.Error()
}

// opError is a preparation failure of one operator.
type opError struct {
	index int
	name  string
	msg   string
}

func (e *opError) Error() string {
	return fmt.Sprintf("operator %d (%s): %s", e.index, e.name, e.msg)
}

func (c *prep) errorf(format string, args ...any) error {
	return &opError{index: c.opIndex, name: c.opName, msg: fmt.Sprintf(format, args...)}
}

func prepare(m *schema.ModelT) (*program, error) {
	return prepareCollect(m, nil)
}

// prepareCollect prepares the model; with problems != nil an operator that cannot be
// prepared is recorded there instead of stopping preparation (its outputs count as
// written, so the operators after it are still checked).
func prepareCollect(m *schema.ModelT, problems *[]OpProblem) (*program, error) {
	sg := m.Subgraphs[0]
	p := &program{
		infos:    make([]TensorInfo, len(sg.Tensors)),
		constant: make([][]byte, len(sg.Tensors)),
		inputs:   toInts(sg.Inputs),
		outputs:  toInts(sg.Outputs),
	}
	written := make([]bool, len(sg.Tensors))
	for i, t := range sg.Tensors {
		info := TensorInfo{Index: i, Name: t.Name, Type: t.Type, Shape: t.Shape, Bytes: int(tflite.TensorBytes(t))}
		if q := t.Quantization; q != nil && len(q.Scale) > 0 {
			info.Scale, info.ZeroPoint = q.Scale, q.ZeroPoint
		}
		p.infos[i] = info
		if t.IsVariable {
			// TFLM ResetVariableTensors: state tensors start as zeros (int8: the zero point)
			// and keep their contents from one Invoke to the next.
			var fill byte
			if t.Type == schema.TensorTypeINT8 && len(info.ZeroPoint) > 0 {
				fill = byte(int8(info.ZeroPoint[0]))
			}
			p.variables = append(p.variables, variable{index: i, fill: fill})
			written[i] = true
			continue
		}
		if int(t.Buffer) < len(m.Buffers) && t.Buffer != 0 && len(m.Buffers[t.Buffer].Data) > 0 {
			p.constant[i] = m.Buffers[t.Buffer].Data
			written[i] = true
		}
	}
	if len(p.inputs) == 0 || len(p.outputs) == 0 {
		return nil, fmt.Errorf("subgraph 0 has %d inputs and %d outputs; need at least one of each", len(p.inputs), len(p.outputs))
	}
	for _, t := range p.inputs {
		if p.constant[t] != nil {
			return nil, fmt.Errorf("input tensor %d %q is a constant", t, sg.Tensors[t].Name)
		}
		if err := checkIOType(p.infos[t]); err != nil {
			return nil, fmt.Errorf("input tensor %d %q: %w", t, sg.Tensors[t].Name, err)
		}
		written[t] = true
	}
	// Refuse absurd activation totals before preparing operators: some precompute per
	// element (index maps, tables) and must not be asked to for a hostile model.
	var activations int64
	for i := range p.infos {
		if p.constant[i] == nil {
			activations += int64(p.infos[i].Bytes)
		}
	}
	if activations > maxActivationBytes {
		return nil, fmt.Errorf("activations need %d bytes, more than the %d this interpreter allocates", activations, int64(maxActivationBytes))
	}
	c := &prep{m: m, sg: sg, p: p}
	for i, op := range sg.Operators {
		c.op, c.opIndex = op, i
		if int(op.OpcodeIndex) >= len(m.OperatorCodes) {
			return nil, fmt.Errorf("operator %d: opcode index %d out of range", i, op.OpcodeIndex)
		}
		code := m.OperatorCodes[op.OpcodeIndex]
		c.opName = tflite.OpName(code)
		for _, t := range op.Outputs {
			if t < 0 {
				return nil, c.errorf("missing output tensor")
			}
			if p.constant[t] != nil {
				return nil, c.errorf("output tensor %d %q is a constant", t, sg.Tensors[t].Name)
			}
		}
		k, err := c.kernelFor(tflite.BuiltinCode(code))
		if err != nil {
			if problems == nil {
				return nil, err
			}
			*problems = append(*problems, OpProblem{Index: i, Op: c.opName, Reason: opReason(err)})
			for _, t := range op.Outputs {
				written[t] = true
			}
			continue
		}
		for _, t := range op.Inputs {
			if t >= 0 && !written[t] {
				return nil, c.errorf("input tensor %d %q is read before any operator writes it", t, sg.Tensors[t].Name)
			}
		}
		for _, t := range op.Outputs {
			written[t] = true
		}
		p.ops = append(p.ops, preparedOp{index: i, name: c.opName, k: k, outputs: toInts(op.Outputs)})
		p.maxHookN = max(p.maxHookN, len(op.Outputs))
	}
	for _, t := range p.outputs {
		if !written[t] {
			return nil, fmt.Errorf("output tensor %d %q is never written", t, sg.Tensors[t].Name)
		}
	}
	var total int64
	for i := range p.infos {
		if p.constant[i] == nil {
			p.activeSet = append(p.activeSet, i)
			total += int64(p.infos[i].Bytes)
		}
	}
	// Every activation tensor gets its own buffer; refuse absurd totals instead of
	// failing inside the allocator.
	if total+int64(p.scratch) > maxActivationBytes {
		return nil, fmt.Errorf("activations need %d bytes, more than the %d this interpreter allocates", total+int64(p.scratch), int64(maxActivationBytes))
	}
	return p, nil
}

func checkIOType(info TensorInfo) error {
	switch info.Type {
	case schema.TensorTypeINT8, schema.TensorTypeUINT8, schema.TensorTypeFLOAT32, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeBOOL:
		return nil
	}
	return fmt.Errorf("type %s is not supported by the interpreter", tflite.TypeName(info.Type))
}

func toInts(v []int32) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

func (c *prep) kernelFor(code schema.BuiltinOperator) (kernel, error) {
	switch code {
	case schema.BuiltinOperatorCONV_2D:
		return c.conv2D()
	case schema.BuiltinOperatorDEPTHWISE_CONV_2D:
		return c.depthwiseConv2D()
	case schema.BuiltinOperatorFULLY_CONNECTED:
		return c.fullyConnected()
	case schema.BuiltinOperatorADD:
		if c.firstInputType() == schema.TensorTypeINT8 {
			return c.add()
		}
		return c.addSub(false)
	case schema.BuiltinOperatorSUB:
		return c.addSub(true)
	case schema.BuiltinOperatorMUL:
		if c.firstInputType() == schema.TensorTypeINT8 {
			return c.mul()
		}
		return c.mulOther()
	case schema.BuiltinOperatorMAXIMUM:
		return c.maxMin(true)
	case schema.BuiltinOperatorMINIMUM:
		return c.maxMin(false)
	case schema.BuiltinOperatorSQUARED_DIFFERENCE:
		return c.squaredDifference()
	case schema.BuiltinOperatorPRELU:
		return c.prelu()
	case schema.BuiltinOperatorSELECT_V2:
		return c.selectV2()
	case schema.BuiltinOperatorAVERAGE_POOL_2D:
		return c.pool(true)
	case schema.BuiltinOperatorMAX_POOL_2D:
		return c.pool(false)
	case schema.BuiltinOperatorMEAN:
		return c.reduce(reduceMean)
	case schema.BuiltinOperatorSUM:
		return c.reduce(reduceSum)
	case schema.BuiltinOperatorREDUCE_MAX:
		return c.reduce(reduceMax)
	case schema.BuiltinOperatorREDUCE_MIN:
		return c.reduce(reduceMin)
	case schema.BuiltinOperatorSOFTMAX:
		return c.softmax()
	case schema.BuiltinOperatorLOGISTIC:
		return c.logisticAny()
	case schema.BuiltinOperatorTANH:
		return c.tanh()
	case schema.BuiltinOperatorELU:
		return c.elu()
	case schema.BuiltinOperatorEXP:
		return c.exp()
	case schema.BuiltinOperatorNEG:
		return c.neg()
	case schema.BuiltinOperatorABS:
		return c.abs()
	case schema.BuiltinOperatorRSQRT:
		return c.rsqrt()
	case schema.BuiltinOperatorCAST:
		return c.cast()
	case schema.BuiltinOperatorRELU:
		return c.relu()
	case schema.BuiltinOperatorRELU6:
		return c.relu6()
	case schema.BuiltinOperatorHARD_SWISH:
		return c.hardSwish()
	case schema.BuiltinOperatorLEAKY_RELU:
		return c.leakyRelu()
	case schema.BuiltinOperatorQUANTIZE:
		return c.quantize()
	case schema.BuiltinOperatorDEQUANTIZE:
		return c.dequantize()
	case schema.BuiltinOperatorRESHAPE, schema.BuiltinOperatorSQUEEZE:
		return c.reshape()
	case schema.BuiltinOperatorPAD, schema.BuiltinOperatorPADV2:
		return c.pad()
	case schema.BuiltinOperatorTRANSPOSE:
		return c.transpose()
	case schema.BuiltinOperatorSTRIDED_SLICE:
		return c.stridedSlice()
	case schema.BuiltinOperatorCONCATENATION:
		return c.concatenation()
	case schema.BuiltinOperatorCUSTOM:
		return c.custom()
	case schema.BuiltinOperatorEXPAND_DIMS:
		return c.reshape()
	case schema.BuiltinOperatorSVDF:
		return c.svdf()
	case schema.BuiltinOperatorARG_MAX:
		return c.argMinMax(true)
	case schema.BuiltinOperatorARG_MIN:
		return c.argMinMax(false)
	case schema.BuiltinOperatorL2_NORMALIZATION:
		return c.l2Normalization()
	case schema.BuiltinOperatorRESIZE_BILINEAR:
		return c.resizeBilinear()
	case schema.BuiltinOperatorTRANSPOSE_CONV:
		return c.transposeConv()
	case schema.BuiltinOperatorSLICE:
		return c.slice()
	case schema.BuiltinOperatorMIRROR_PAD:
		return c.mirrorPad()
	case schema.BuiltinOperatorSQRT, schema.BuiltinOperatorSQUARE, schema.BuiltinOperatorLOG,
		schema.BuiltinOperatorFLOOR, schema.BuiltinOperatorCEIL, schema.BuiltinOperatorROUND:
		return c.floatUnary(code)
	case schema.BuiltinOperatorDIV:
		return c.div()
	case schema.BuiltinOperatorZEROS_LIKE:
		return c.zerosLike()
	case schema.BuiltinOperatorREVERSE_V2:
		return c.reverseV2()
	case schema.BuiltinOperatorEQUAL, schema.BuiltinOperatorNOT_EQUAL, schema.BuiltinOperatorLESS,
		schema.BuiltinOperatorLESS_EQUAL, schema.BuiltinOperatorGREATER, schema.BuiltinOperatorGREATER_EQUAL:
		return c.comparison(code)
	case schema.BuiltinOperatorLOGICAL_AND, schema.BuiltinOperatorLOGICAL_OR, schema.BuiltinOperatorLOGICAL_NOT:
		return c.logical(code)
	case schema.BuiltinOperatorGATHER_ND:
		return c.gatherNd()
	case schema.BuiltinOperatorADD_N:
		return c.addN()
	case schema.BuiltinOperatorFILL:
		return c.fill()
	case schema.BuiltinOperatorSHAPE:
		return c.shape()
	case schema.BuiltinOperatorPACK:
		return c.pack()
	case schema.BuiltinOperatorUNPACK:
		return c.unpack()
	case schema.BuiltinOperatorSPLIT:
		return c.split(false)
	case schema.BuiltinOperatorSPLIT_V:
		return c.split(true)
	case schema.BuiltinOperatorGATHER:
		return c.gather()
	case schema.BuiltinOperatorBROADCAST_TO:
		return c.broadcastTo()
	case schema.BuiltinOperatorDEPTH_TO_SPACE:
		return c.depthSpace(true)
	case schema.BuiltinOperatorSPACE_TO_DEPTH:
		return c.depthSpace(false)
	case schema.BuiltinOperatorSPACE_TO_BATCH_ND:
		return c.spaceBatch(true)
	case schema.BuiltinOperatorBATCH_TO_SPACE_ND:
		return c.spaceBatch(false)
	case schema.BuiltinOperatorRESIZE_NEAREST_NEIGHBOR:
		return c.resizeNearest()
	}
	return nil, c.errorf("not supported by the interpreter")
}

// firstInputType is the type of input 0, or NONE-like -1 when it is missing.
func (c *prep) firstInputType() schema.TensorType {
	if len(c.op.Inputs) == 0 || c.op.Inputs[0] < 0 {
		return -1
	}
	return c.info(int(c.op.Inputs[0])).Type
}

// ---- operand access -------------------------------------------------------------------

// in returns the tensor index of input i, or an error if it is missing.
func (c *prep) in(i int) (int, error) {
	if i >= len(c.op.Inputs) || c.op.Inputs[i] < 0 {
		return 0, c.errorf("needs input %d, which is missing", i)
	}
	return int(c.op.Inputs[i]), nil
}

// optIn returns the tensor index of optional input i, or -1.
func (c *prep) optIn(i int) int {
	if i >= len(c.op.Inputs) {
		return -1
	}
	return int(c.op.Inputs[i])
}

func (c *prep) out(i int) (int, error) {
	if i >= len(c.op.Outputs) {
		return 0, c.errorf("needs output %d, which is missing", i)
	}
	return int(c.op.Outputs[i]), nil
}

// counts checks the number of inputs (within [minIn, maxIn]) and outputs.
func (c *prep) counts(minIn, maxIn, outs int) error {
	if n := len(c.op.Inputs); n < minIn || n > maxIn {
		if minIn == maxIn {
			return c.errorf("has %d inputs, want %d", n, minIn)
		}
		return c.errorf("has %d inputs, want %d to %d", n, minIn, maxIn)
	}
	if n := len(c.op.Outputs); n != outs {
		return c.errorf("has %d outputs, want %d", n, outs)
	}
	return nil
}

func (c *prep) info(t int) *TensorInfo { return &c.p.infos[t] }

func (c *prep) desc(t int) string {
	in := c.info(t)
	return fmt.Sprintf("tensor %d %q (%s%s)", t, in.Name, tflite.TypeName(in.Type), tflite.FormatShape(in.Shape))
}

func (c *prep) wantType(t int, types ...schema.TensorType) error {
	got := c.info(t).Type
	for _, ty := range types {
		if got == ty {
			return nil
		}
	}
	names := ""
	for i, ty := range types {
		if i > 0 {
			names += " or "
		}
		names += tflite.TypeName(ty)
	}
	return c.errorf("%s: type %s is not supported here (want %s)", c.desc(t), tflite.TypeName(got), names)
}

func (c *prep) wantRank(t int, rank int) error {
	if n := len(c.info(t).Shape); n != rank {
		return c.errorf("%s: rank %d, want %d", c.desc(t), n, rank)
	}
	return nil
}

func (c *prep) wantConst(t int) error {
	if c.p.constant[t] == nil {
		return c.errorf("%s must be a constant", c.desc(t))
	}
	return nil
}

// qparams are a tensor's per-tensor quantization parameters as TFLM's TfLiteTensor.params
// holds them: the first scale and zero point.
type qparams struct {
	scale float32
	zp    int32
}

func (c *prep) quant(t int) (qparams, error) {
	in := c.info(t)
	if len(in.Scale) == 0 {
		return qparams{}, c.errorf("%s has no quantization parameters", c.desc(t))
	}
	q := qparams{scale: in.Scale[0]}
	if len(in.ZeroPoint) > 0 {
		zp := in.ZeroPoint[0]
		if zp < math.MinInt32 || zp > math.MaxInt32 {
			return qparams{}, c.errorf("%s: zero point %d out of range", c.desc(t), zp)
		}
		q.zp = int32(zp)
	}
	if !(q.scale > 0) || math.IsInf(float64(q.scale), 0) {
		return qparams{}, c.errorf("%s: scale %g must be positive and finite", c.desc(t), q.scale)
	}
	return q, nil
}

// quant8 is quant for an int8 tensor whose zero point must be representable in int8.
func (c *prep) quant8(t int) (qparams, error) {
	q, err := c.quant(t)
	if err != nil {
		return q, err
	}
	if q.zp < -128 || q.zp > 127 {
		return q, c.errorf("%s: zero point %d outside int8 range", c.desc(t), q.zp)
	}
	return q, nil
}

func (c *prep) elements(t int) int {
	n, _ := tflite.ElementCount(c.info(t).Shape)
	return int(n)
}

// activationRange is TFLM kernel_util.cc CalculateActivationRangeQuantized for int8
// outputs: the fused activation's bounds quantized as zp + round(f/scale) (float division,
// round half away from zero), intersected with [-128, 127].
func (c *prep) activationRange(act schema.ActivationFunctionType, out qparams) (lo, hi int32, err error) {
	lo, hi = -128, 127
	quantize := func(f float32) (int32, error) {
		v := math.Round(float64(f / out.scale))
		if v < math.MinInt32 || v > math.MaxInt32 {
			return 0, c.errorf("activation bound %g overflows int32 at output scale %g", f, out.scale)
		}
		return out.zp + int32(v), nil
	}
	var a, b int32
	switch act {
	case schema.ActivationFunctionTypeNONE:
		return lo, hi, nil
	case schema.ActivationFunctionTypeRELU:
		if a, err = quantize(0); err != nil {
			return
		}
		return max(lo, a), hi, nil
	case schema.ActivationFunctionTypeRELU6:
		if a, err = quantize(0); err != nil {
			return
		}
		if b, err = quantize(6); err != nil {
			return
		}
		return max(lo, a), min(hi, b), nil
	case schema.ActivationFunctionTypeRELU_N1_TO_1:
		if a, err = quantize(-1); err != nil {
			return
		}
		if b, err = quantize(1); err != nil {
			return
		}
		return max(lo, a), min(hi, b), nil
	}
	name := schema.EnumNamesActivationFunctionType[act]
	if name == "" {
		name = fmt.Sprint(int(act))
	}
	return 0, 0, c.errorf("fused activation %s is not supported", name)
}

// ---- constant data ----------------------------------------------------------------------

func (c *prep) constInt32s(t int) ([]int32, error) {
	in := c.info(t)
	d := c.p.constant[t]
	switch in.Type {
	case schema.TensorTypeINT32:
		out := make([]int32, len(d)/4)
		for i := range out {
			out[i] = int32(binary.LittleEndian.Uint32(d[4*i:]))
		}
		return out, nil
	case schema.TensorTypeINT64:
		out := make([]int32, len(d)/8)
		for i := range out {
			v := int64(binary.LittleEndian.Uint64(d[8*i:]))
			if v < math.MinInt32 || v > math.MaxInt32 {
				return nil, c.errorf("%s: value %d out of int32 range", c.desc(t), v)
			}
			out[i] = int32(v)
		}
		return out, nil
	}
	return nil, c.errorf("%s: type %s is not supported here (want INT32)", c.desc(t), tflite.TypeName(in.Type))
}

// ---- byte views -------------------------------------------------------------------------

func i8(b []byte) []int8 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}

func f32(b []byte) []float32 {
	if len(b) < 4 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func i32(b []byte) []int32 {
	if len(b) < 4 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func i16(b []byte) []int16 {
	if len(b) < 2 {
		return nil
	}
	return unsafe.Slice((*int16)(unsafe.Pointer(&b[0])), len(b)/2)
}

func clampI32(v, lo, hi int32) int32 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func shapeInts(s []int32) []int {
	out := make([]int, len(s))
	for i, d := range s {
		out[i] = int(d)
	}
	return out
}

func sameShape(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// options returns the operator's builtin options table, or nil when it has none (TFLM then
// uses the defaults, and so do the kernels here).
func (c *prep) options() any {
	if c.op.BuiltinOptions == nil {
		return nil
	}
	return c.op.BuiltinOptions.Value
}

// weightedOperands returns the operands of an operator laid out as (input, filter, optional
// bias) -> output: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED. bias is -1 when omitted.
func (c *prep) weightedOperands() (input, filter, output, bias int, err error) {
	if input, err = c.in(0); err != nil {
		return
	}
	if filter, err = c.in(1); err != nil {
		return
	}
	if output, err = c.out(0); err != nil {
		return
	}
	return input, filter, output, c.optIn(2), nil
}
