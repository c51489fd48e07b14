package tfmicroops_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
	tfmicroops "github.com/quantmcu/quantmcu/tfmicro_ops"
)

// Kernel test vectors (testdata/vectors/*.qmv) feed the C kernels' own tests outside Go: the
// Bazel cc_test //tfmicro_ops:kernels_test and CMake's ctest run test/kernels_test.c on them.
// Each holds one QMCU_PATCH_STAGE exactly as quantmcu emitted it (plan blob, constant
// tensors), a stage input and the stage output the host computed. Committed vectors are
// never regenerated silently: a vector in an older plan version must keep loading.
//
// File layout (little-endian; every byte string is padded with zeros to a multiple of 4):
//
//	"QMTV", u32 format 1,
//	u32 plan bytes, plan blob,
//	u32 input bytes, stage input,
//	u32 n (custom-op inputs, stage input included), then for each constant 1..n-1:
//	  u32 bytes, data,
//	u32 output bytes, expected stage output.
var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/vectors from the current rewriter")

type vector struct {
	plan, input, output []byte
	consts              [][]byte // [0] unused
}

func (v *vector) encode() []byte {
	var b bytes.Buffer
	b.WriteString("QMTV")
	u32 := func(x int) { binary.Write(&b, binary.LittleEndian, uint32(x)) }
	blob := func(d []byte) {
		u32(len(d))
		b.Write(d)
		b.Write(make([]byte, (4-len(d)%4)%4))
	}
	u32(1)
	blob(v.plan)
	blob(v.input)
	u32(len(v.consts))
	for _, c := range v.consts[1:] {
		blob(c)
	}
	blob(v.output)
	return b.Bytes()
}

func decodeVector(data []byte) (*vector, error) {
	r := bytes.NewReader(data)
	var magic [4]byte
	var format uint32
	if _, err := r.Read(magic[:]); err != nil || string(magic[:]) != "QMTV" {
		return nil, errors.New("not a QMTV vector")
	}
	if binary.Read(r, binary.LittleEndian, &format) != nil || format != 1 {
		return nil, fmt.Errorf("vector format %d", format)
	}
	blob := func() ([]byte, error) {
		var n uint32
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return nil, err
		}
		if int64(n) > int64(r.Len()) {
			return nil, errors.New("truncated")
		}
		d := make([]byte, n)
		r.Read(d)
		r.Seek(int64((4-n%4)%4), 1)
		return d, nil
	}
	v := &vector{}
	var err error
	if v.plan, err = blob(); err != nil {
		return nil, err
	}
	if v.input, err = blob(); err != nil {
		return nil, err
	}
	var n uint32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil || n == 0 || n > 1024 {
		return nil, fmt.Errorf("bad input count %d", n)
	}
	v.consts = make([][]byte, n)
	for i := 1; i < int(n); i++ {
		if v.consts[i], err = blob(); err != nil {
			return nil, err
		}
	}
	if v.output, err = blob(); err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, errors.New("trailing bytes")
	}
	return v, nil
}

// stageVector rewrites m with opts and captures the patch stage of the result on one input.
func stageVector(t *testing.T, m *schema.ModelT, opts rewrite.Options, input []byte) *vector {
	t.Helper()
	res, err := rewrite.Optimize(context.Background(), m, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := tflite.Serialize(res.Model)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := tflite.Parse(data, "rewritten")
	if err != nil {
		t.Fatal(err)
	}
	sg := rm.Subgraphs[0]
	opIndex := -1
	for i, op := range sg.Operators {
		if rm.OperatorCodes[op.OpcodeIndex].CustomCode == "QMCU_PATCH_STAGE" {
			opIndex = i
		}
	}
	if opIndex < 0 {
		t.Fatal("the rewritten model has no QMCU_PATCH_STAGE")
	}
	op := sg.Operators[opIndex]
	root, err := flexbuffers.Root(op.CustomOptions)
	if err != nil {
		t.Fatal(err)
	}
	pv, err := root.Get("plan")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pv.Blob()
	if err != nil {
		t.Fatal(err)
	}
	v := &vector{plan: bytes.Clone(plan), consts: make([][]byte, len(op.Inputs))}
	for i := 1; i < len(op.Inputs); i++ {
		v.consts[i] = bytes.Clone(rm.Buffers[sg.Tensors[op.Inputs[i]].Buffer].Data)
	}
	tensors := map[int][]byte{}
	for i, in := range sg.Inputs {
		if i == 0 {
			tensors[int(in)] = input
		}
	}
	it, err := interp.New(rm)
	if err != nil {
		t.Fatal(err)
	}
	it.SetHook(func(_ int, outs []interp.Tensor) {
		for _, o := range outs {
			tensors[o.Index] = bytes.Clone(o.Data)
		}
	})
	if _, err := it.Invoke(input); err != nil {
		t.Fatal(err)
	}
	v.input, v.output = tensors[int(op.Inputs[0])], tensors[int(op.Outputs[0])]
	if v.input == nil || v.output == nil {
		t.Fatal("stage input or output not observed")
	}
	return v
}

// vectorCases are how the committed vectors were made. -update-vectors writes
// <name>_v<plan version>.qmv, so vectors of older plan versions stay as they are.
var vectorCases = []struct {
	name string
	opts rewrite.Options
	// mixed narrows the checked range of the --bits spec to [lo, hi] and feeds a horizontal
	// ramp, so that some tiles are outlier tiles (int8) and the others take the low branch.
	mixed  bool
	lo, hi int
}{
	// A MobileNetV2-0.35 at 32x32 (first stage: conv 3x3/2, depthwise, projection, expansion),
	// patched on an uneven 3x3 grid, int8 only.
	{name: "mbv2_32_3x3", opts: rewrite.Options{Patches: "3x3"}},
	// The same with a uniform 4-bit low branch (plan version 2 and later).
	{name: "mbv2_32_3x3_bits4", opts: rewrite.Options{Patches: "3x3", Bits: 4}},
	// Both tile classes in one stage (hi = 20 makes 6 of the 9 tiles outlier tiles).
	{name: "mbv2_32_3x3_mixed", opts: rewrite.Options{Patches: "3x3", Bits: 4}, mixed: true, lo: -128, hi: 20},
}

// mixedOptions turns c's --bits options into a precision spec with the checked range [lo, hi].
func mixedOptions(t *testing.T, m *schema.ModelT, opts rewrite.Options, lo, hi int) rewrite.Options {
	t.Helper()
	res, err := rewrite.Optimize(context.Background(), m, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := precision.Parse(res.Artifacts["precision.json"])
	if err != nil {
		t.Fatal(err)
	}
	spec.Checked.Lo, spec.Checked.Hi, spec.Checked.OutlierRate = lo, hi, nil
	opts.Bits, opts.Precision = 0, spec
	return opts
}

func vectorModel() (*schema.ModelT, error) {
	return builder.MobileNetV2(builder.MobileNetV2Config{Resolution: 32, Width: 0.35, Classes: 4, LastConv: 32, Seed: 7})
}

// TestKernelVectors checks every committed vector with the host build of the kernels (the
// same C the cc_test and ctest run): the plan parses and reproduces the expected output.
// With -update-vectors it first regenerates them from the current rewriter.
func TestKernelVectors(t *testing.T) {
	if *updateVectors {
		for _, c := range vectorCases {
			m, err := vectorModel()
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			in := make([]byte, tflite.TensorBytes(m.Subgraphs[0].Tensors[m.Subgraphs[0].Inputs[0]]))
			opts := c.opts
			for i := range in {
				in[i] = byte(rng.Uint32())
				if c.mixed { // NHWC 32x32x3: dark on the left, bright on the right
					in[i] = byte(int8(-128 + (i/3%32)*255/31))
				}
			}
			if c.mixed {
				opts = mixedOptions(t, m, opts, c.lo, c.hi)
			}
			v := stageVector(t, m, opts, in)
			file := fmt.Sprintf("%s_v%d.qmv", c.name, binary.LittleEndian.Uint32(v.plan[4:]))
			if err := os.WriteFile(filepath.Join("testdata", "vectors", file), v.encode(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join("testdata", "vectors", "*.qmv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors in testdata/vectors (%v)", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := decodeVector(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !bytes.Equal(v.encode(), data) {
			t.Errorf("%s: does not re-encode to the same bytes", f)
		}
		p, err := tfmicroops.Parse(v.plan)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out := make([]byte, len(v.output))
		stats, err := p.Eval(v.input, v.consts, out, make([]byte, p.ScratchBytes()))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if strings.Contains(f, "_mixed_") && (stats.OutlierTiles == 0 || stats.OutlierTiles == stats.Tiles) {
			t.Errorf("%s: %d of %d tiles are outlier tiles; the vector should take both branches", f, stats.OutlierTiles, stats.Tiles)
		}
		if !bytes.Equal(out, v.output) {
			t.Errorf("%s: kernels no longer reproduce the vector's output", f)
		}
		if p.NumTiles() < 2 {
			t.Errorf("%s: %d tile(s); a vector should exercise the patch loop", f, p.NumTiles())
		}
	}
}
