package tflite

import (
	"fmt"
	"strings"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// FormatError is a rule violation found by Validate. It names where the problem is: the
// subgraph, operator and tensor indices are -1 when not applicable.
type FormatError struct {
	Subgraph   int
	Operator   int
	Tensor     int
	TensorName string
	Msg        string
}

func (e *FormatError) Error() string {
	where := ""
	add := func(s string) {
		if where != "" {
			where += ", "
		}
		where += s
	}
	if e.Subgraph >= 0 {
		add(fmt.Sprintf("subgraph %d", e.Subgraph))
	}
	if e.Operator >= 0 {
		add(fmt.Sprintf("operator %d", e.Operator))
	}
	if e.Tensor >= 0 {
		add(fmt.Sprintf("tensor %d %q", e.Tensor, ShortName(e.TensorName)))
	}
	if where == "" {
		return e.Msg
	}
	return where + ": " + e.Msg
}

// maxShownName is the longest tensor name messages quote in full.
const maxShownName = 80

// ShortName returns name for a message: names longer than 80 bytes (hostile models carry
// megabyte names) are cut, saying how much was left out.
func ShortName(name string) string {
	if len(name) <= maxShownName {
		return name
	}
	return fmt.Sprintf("%s...(%d more bytes)", strings.ToValidUTF8(name[:maxShownName-16], ""), len(name)-(maxShownName-16))
}

// Validate checks the semantic rules of a model tree that the FlatBuffer verifier cannot:
// every index in range (-1 only for optional operator inputs), shapes non-negative and of
// bounded size, constant buffers whose byte size matches shape x type, and quantization
// arrays of consistent length. It returns the first violation as a *FormatError.
func Validate(m *schema.ModelT) error {
	if m == nil {
		return &FormatError{-1, -1, -1, "", "model is empty"}
	}
	v := validator{m: m}
	return v.model()
}

type validator struct {
	m *schema.ModelT
}

func errAt(sg, op, t int, name, format string, args ...any) error {
	return &FormatError{Subgraph: sg, Operator: op, Tensor: t, TensorName: name, Msg: fmt.Sprintf(format, args...)}
}

func (v *validator) model() error {
	m := v.m
	if m.Version != SchemaVersion {
		return errAt(-1, -1, -1, "", "schema version %d is not supported (want %d)", m.Version, SchemaVersion)
	}
	if len(m.Subgraphs) == 0 {
		return errAt(-1, -1, -1, "", "model has no subgraphs")
	}
	for i, b := range m.Buffers {
		if b == nil {
			return errAt(-1, -1, -1, "", "buffer %d is missing", i)
		}
	}
	for i, oc := range m.OperatorCodes {
		if oc == nil {
			return errAt(-1, -1, -1, "", "operator code %d is missing", i)
		}
		if BuiltinCode(oc) < 0 {
			return errAt(-1, -1, -1, "", "operator code %d has negative builtin code %d", i, BuiltinCode(oc))
		}
	}
	for i, b := range m.MetadataBuffer {
		if b < 0 || int(b) >= len(m.Buffers) {
			return errAt(-1, -1, -1, "", "metadata_buffer[%d] = %d is not a buffer index (model has %d buffers)", i, b, len(m.Buffers))
		}
	}
	for i, md := range m.Metadata {
		if md == nil {
			return errAt(-1, -1, -1, "", "metadata entry %d is missing", i)
		}
		if int(md.Buffer) >= len(m.Buffers) {
			return errAt(-1, -1, -1, "", "metadata %q refers to buffer %d, model has %d buffers", md.Name, md.Buffer, len(m.Buffers))
		}
	}
	for si, sg := range m.Subgraphs {
		if sg == nil {
			return errAt(si, -1, -1, "", "subgraph is missing")
		}
		if err := v.subgraph(si, sg); err != nil {
			return err
		}
	}
	for i, sd := range m.SignatureDefs {
		if sd == nil {
			return errAt(-1, -1, -1, "", "signature %d is missing", i)
		}
		if int(sd.SubgraphIndex) >= len(m.Subgraphs) {
			return errAt(-1, -1, -1, "", "signature %q refers to subgraph %d, model has %d", sd.SignatureKey, sd.SubgraphIndex, len(m.Subgraphs))
		}
		n := len(m.Subgraphs[sd.SubgraphIndex].Tensors)
		for _, tm := range append(append([]*schema.TensorMapT{}, sd.Inputs...), sd.Outputs...) {
			if tm == nil || int(tm.TensorIndex) >= n {
				return errAt(int(sd.SubgraphIndex), -1, -1, "", "signature %q maps to a tensor index outside the subgraph's %d tensors", sd.SignatureKey, n)
			}
		}
	}
	return nil
}

func (v *validator) subgraph(si int, sg *schema.SubGraphT) error {
	n := len(sg.Tensors)
	for ti, t := range sg.Tensors {
		if t == nil {
			return errAt(si, -1, ti, "", "tensor is missing")
		}
		if err := v.tensor(si, ti, t); err != nil {
			return err
		}
	}
	for i, ti := range sg.Inputs {
		if ti < 0 || int(ti) >= n {
			return errAt(si, -1, -1, "", "input %d is tensor %d, subgraph has %d tensors", i, ti, n)
		}
	}
	for i, ti := range sg.Outputs {
		if ti < 0 || int(ti) >= n {
			return errAt(si, -1, -1, "", "output %d is tensor %d, subgraph has %d tensors", i, ti, n)
		}
	}
	for oi, op := range sg.Operators {
		if op == nil {
			return errAt(si, oi, -1, "", "operator is missing")
		}
		if int(op.OpcodeIndex) >= len(v.m.OperatorCodes) {
			return errAt(si, oi, -1, "", "opcode index %d, model has %d operator codes", op.OpcodeIndex, len(v.m.OperatorCodes))
		}
		for i, ti := range op.Inputs {
			if ti < -1 || int(ti) >= n {
				return errAt(si, oi, -1, "", "input %d is tensor %d, subgraph has %d tensors", i, ti, n)
			}
		}
		for i, ti := range op.Outputs {
			if ti < 0 || int(ti) >= n {
				return errAt(si, oi, -1, "", "output %d is tensor %d, subgraph has %d tensors", i, ti, n)
			}
		}
		for i, ti := range op.Intermediates {
			if ti < 0 || int(ti) >= n {
				return errAt(si, oi, -1, "", "intermediate %d is tensor %d, subgraph has %d tensors", i, ti, n)
			}
		}
	}
	return v.executionOrder(si, sg)
}

// executionOrder refuses operators that read a tensor a later operator writes: TFLite runs
// operators in their stored order, so such a graph has a cycle (or is out of order) and
// would read a tensor before it holds data. Tensors no operator writes are left to the
// consumers (they may be filled by the application, as variables are).
func (v *validator) executionOrder(si int, sg *schema.SubGraphT) error {
	writer := make([]int, len(sg.Tensors))
	for i := range writer {
		writer[i] = -1
	}
	for oi := len(sg.Operators) - 1; oi >= 0; oi-- {
		for _, t := range sg.Operators[oi].Outputs {
			writer[t] = oi
		}
	}
	written := make([]bool, len(sg.Tensors))
	for _, t := range sg.Inputs {
		written[t] = true
	}
	for ti, t := range sg.Tensors {
		if t.IsVariable || (t.Buffer != 0 && len(v.m.Buffers[t.Buffer].Data) > 0) {
			written[ti] = true
		}
	}
	for oi, op := range sg.Operators {
		for _, t := range op.Inputs {
			if t >= 0 && !written[t] && writer[t] >= oi {
				return errAt(si, oi, int(t), sg.Tensors[t].Name,
					"read before operator %d writes it (the operators form a cycle or are out of execution order)", writer[t])
			}
		}
		for _, t := range op.Outputs {
			written[t] = true
		}
	}
	return nil
}

func (v *validator) tensor(si, ti int, t *schema.TensorT) error {
	fail := func(format string, args ...any) error { return errAt(si, -1, ti, t.Name, format, args...) }
	if _, ok := schema.EnumNamesTensorType[t.Type]; !ok {
		return fail("unknown tensor type %d", t.Type)
	}
	if len(t.Shape) > MaxRank || len(t.ShapeSignature) > MaxRank {
		return fail("rank %d is more than %d (TFLM's kernels take at most 5 dimensions)", max(len(t.Shape), len(t.ShapeSignature)), MaxRank)
	}
	count, err := ElementCount(t.Shape)
	if err != nil {
		return fail("%v", err)
	}
	if len(t.ShapeSignature) > 0 && len(t.ShapeSignature) != len(t.Shape) {
		return fail("shape_signature has rank %d but shape %s has rank %d", len(t.ShapeSignature), FormatShape(t.Shape), len(t.Shape))
	}
	for _, d := range t.ShapeSignature {
		if d < -1 {
			return fail("shape_signature %s has a dimension below -1", FormatShape(t.ShapeSignature))
		}
	}
	if int(t.Buffer) >= len(v.m.Buffers) {
		return fail("buffer index %d, model has %d buffers", t.Buffer, len(v.m.Buffers))
	}
	if t.Buffer != 0 && t.Sparsity == nil {
		data := v.m.Buffers[t.Buffer].Data
		if len(data) > 0 {
			if err := checkDataSize(t, count, len(data)); err != nil {
				return fail("%v", err)
			}
		}
	}
	if q := t.Quantization; q != nil {
		if len(q.ZeroPoint) > 0 && len(q.Scale) != len(q.ZeroPoint) {
			return fail("quantization has %d scales but %d zero points", len(q.Scale), len(q.ZeroPoint))
		}
		if len(q.Min) != len(q.Max) {
			return fail("quantization has %d min values but %d max values", len(q.Min), len(q.Max))
		}
		// Per-channel quantization must name a real axis whose size equals the number of
		// scales. A single scale is per-tensor whatever quantized_dimension says. TFLM never
		// reads quantized_dimension of 1-D tensors (biases), and person_detect.tflite has 1-D
		// per-channel biases with quantized_dimension 3: for rank 1, axis 0 is meant.
		if len(q.Scale) > 1 {
			qd := int(q.QuantizedDimension)
			if len(t.Shape) == 1 {
				qd = 0
			}
			if qd < 0 || qd >= len(t.Shape) {
				return fail("quantized_dimension %d is outside shape %s", qd, FormatShape(t.Shape))
			}
			if int(t.Shape[qd]) != len(q.Scale) {
				return fail("has %d quantization scales but dimension %d of shape %s is %d", len(q.Scale), qd, FormatShape(t.Shape), t.Shape[qd])
			}
		}
	}
	return nil
}

// checkDataSize compares a constant buffer's byte length with its tensor's shape and type.
// Sub-byte types may be stored packed or one value per byte.
func checkDataSize(t *schema.TensorT, count int64, size int) error {
	bits := ElementBits(t.Type)
	if bits == 0 {
		return nil // strings and resources have no fixed size
	}
	want := (count*int64(bits) + 7) / 8
	if int64(size) == want || (bits < 8 && int64(size) == count) {
		return nil
	}
	return fmt.Errorf("buffer %d holds %d bytes but shape %s of %s needs %d", t.Buffer, size, FormatShape(t.Shape), TypeName(t.Type), want)
}
