package interp

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// The per-operator goldens: small models built with tflite/builder (opCases), their inputs,
// and the outputs a real TFLM build produced for them (testdata/ops/README.md says which
// commit and how). -update-op-models rewrites the models and inputs from opCases; the
// outputs then have to come from TFLM again.
var updateOpModels = flag.Bool("update-op-models", false, "rewrite testdata/ops/*.tflite and inputs from the case table (outputs must then be regenerated with TFLM)")

const opDir = "testdata/ops"

// opCase builds one test model; inputs are drawn per input tensor from its type unless
// gen overrides input i (return nil to keep the default). A name ending in _x<N> is invoked
// N times on the same inputs (state tensors carry over) before the outputs are compared.
type opCase struct {
	name  string
	build func(b *builder.Builder)
	gen   func(i int, info TensorInfo, rng *rand.Rand) []byte
}

// TestOpGoldens runs every committed operator model on its committed inputs and requires
// the outputs TFLM produced, byte for byte.
func TestOpGoldens(t *testing.T) {
	if *updateOpModels {
		writeOpModels(t)
	}
	models, _ := filepath.Glob(filepath.Join(opDir, "*.tflite"))
	if len(models) == 0 {
		t.Fatalf("no models in %s", opDir)
	}
	names := map[string]bool{}
	for _, oc := range opCases() {
		names[oc.name] = true
	}
	for _, path := range models {
		name := strings.TrimSuffix(filepath.Base(path), ".tflite")
		t.Run(name, func(t *testing.T) {
			if !names[name] {
				t.Fatalf("%s is not in the case table (stale file?)", path)
			}
			m, err := tflite.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			it, err := New(m, WithThreads(1))
			if err != nil {
				t.Fatal(err)
			}
			var ins [][]byte
			for i := range it.Inputs() {
				d, err := os.ReadFile(filepath.Join(opDir, name+".in"+itoa(i)+".raw"))
				if err != nil {
					t.Fatal(err)
				}
				ins = append(ins, d)
			}
			var outs [][]byte
			for range invocations(name) {
				if outs, err = it.Invoke(ins...); err != nil {
					t.Fatal(err)
				}
			}
			for i, got := range outs {
				want, err := os.ReadFile(filepath.Join(opDir, name+".out"+itoa(i)+".raw"))
				if err != nil {
					t.Fatalf("golden output missing (run TFLM on the model, see %s/README.md): %v", opDir, err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("output %d differs from TFLM: %s", i, diffTyped(got, want, it.Outputs()[i].Type))
				}
			}
		})
	}
}

// TestOpCasesMatchCommittedModels rebuilds every case and requires the committed model bytes,
// so the goldens always describe the code's case table.
func TestOpCasesMatchCommittedModels(t *testing.T) {
	for _, oc := range opCases() {
		data, err := buildOpCase(oc)
		if err != nil {
			t.Fatalf("%s: %v", oc.name, err)
		}
		want, err := os.ReadFile(filepath.Join(opDir, oc.name+".tflite"))
		if err != nil {
			t.Fatalf("%s: %v (run go test -run TestOpGoldens -update-op-models)", oc.name, err)
		}
		if !bytes.Equal(data, want) {
			t.Errorf("%s: the case table builds a different model than the committed one", oc.name)
		}
	}
}

// invocations is N for a case named ..._x<N>, else 1.
func invocations(name string) int {
	if i := strings.LastIndex(name, "_x"); i >= 0 {
		if n, err := strconv.Atoi(name[i+2:]); err == nil && n > 0 {
			return n
		}
	}
	return 1
}

func buildOpCase(oc opCase) ([]byte, error) {
	b := builder.New(1)
	oc.build(b)
	m, err := b.Model()
	if err != nil {
		return nil, err
	}
	return tflite.Serialize(m)
}

func writeOpModels(t *testing.T) {
	if err := os.MkdirAll(opDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, oc := range opCases() {
		data, err := buildOpCase(oc)
		if err != nil {
			t.Fatalf("%s: %v", oc.name, err)
		}
		if err := os.WriteFile(filepath.Join(opDir, oc.name+".tflite"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := tflite.Parse(data, oc.name)
		if err != nil {
			t.Fatal(err)
		}
		sg := m.Subgraphs[0]
		rng := rand.New(rand.NewPCG(uint64(len(oc.name)), hashName(oc.name)))
		for i, ti := range sg.Inputs {
			tt := sg.Tensors[ti]
			info := TensorInfo{Index: int(ti), Name: tt.Name, Type: tt.Type, Shape: tt.Shape, Bytes: int(tflite.TensorBytes(tt))}
			var d []byte
			if oc.gen != nil {
				d = oc.gen(i, info, rng)
			}
			if d == nil {
				d = randomTensor(info, rng)
			}
			if err := os.WriteFile(filepath.Join(opDir, oc.name+".in"+itoa(i)+".raw"), d, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func hashName(s string) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range []byte(s) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// randomTensor fills a tensor: integers over their whole range, floats in [-4, 4).
func randomTensor(info TensorInfo, rng *rand.Rand) []byte {
	d := make([]byte, info.Bytes)
	switch info.Type {
	case schema.TensorTypeFLOAT32:
		for i := 0; i+4 <= len(d); i += 4 {
			binary.LittleEndian.PutUint32(d[i:], math.Float32bits(float32(rng.Float64()*8-4)))
		}
	default:
		for i := range d {
			d[i] = byte(rng.Uint32())
		}
	}
	return d
}

func itoa(i int) string { return strconv.Itoa(i) }

func fmtInt(v int) string { return strconv.Itoa(v) }

func diffTyped(got, want []byte, ty schema.TensorType) string {
	if len(got) != len(want) {
		return fmt.Sprintf("length %d, want %d", len(got), len(want))
	}
	n, first := 0, -1
	for i := range got {
		if got[i] != want[i] {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	return fmt.Sprintf("%d of %d bytes differ (%s), first at byte %d (got %#02x, want %#02x)", n, len(got), tflite.TypeName(ty), first, got[first], want[first])
}

// ---- case construction helpers ----------------------------------------------------------

type tq struct {
	scale float32
	zp    int64
}

func act(b *builder.Builder, name string, ty schema.TensorType, shape []int32, q *tq) builder.Tensor {
	s := builder.TensorSpec{Name: name, Type: ty, Shape: shape}
	if q != nil {
		s.Scale, s.ZeroPoint = []float32{q.scale}, []int64{q.zp}
	}
	return b.AddTensor(s)
}

func constI32(b *builder.Builder, name string, shape []int32, v ...int32) builder.Tensor {
	d := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(d[4*i:], uint32(x))
	}
	return b.AddTensor(builder.TensorSpec{Name: name, Type: schema.TensorTypeINT32, Shape: shape, Data: d})
}

func in(b *builder.Builder, ty schema.TensorType, shape []int32, q *tq) builder.Tensor {
	t := act(b, "input", ty, shape, q)
	b.MarkInput(t)
	return t
}

func typeName(ty schema.TensorType) string { return strings.ToLower(tflite.TypeName(ty)) }

var q8 = &tq{0.05, 3}

func qFor(ty schema.TensorType) *tq {
	switch ty {
	case schema.TensorTypeINT8:
		return q8
	case schema.TensorTypeINT16:
		return &tq{0.001, 0}
	}
	return nil
}

// opCases is the table of operator test models, sorted by name.
func opCases() []opCase {
	var cs []opCase
	cs = append(cs, moveCases()...)
	cs = append(cs, binaryCases()...)
	cs = append(cs, quantCases()...)
	cs = append(cs, unaryCases()...)
	cs = append(cs, reduceCases()...)
	cs = append(cs, conv16Cases()...)
	cs = append(cs, transposeConvCases()...)
	cs = append(cs, floatCases()...)
	cs = append(cs, moreCases()...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	return cs
}

func moveCases() []opCase {
	var cs []opCase
	i8, i16, f32t := schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeFLOAT32
	// RESIZE_NEAREST_NEIGHBOR: up, down, odd sizes, every option combination.
	for _, ty := range []schema.TensorType{i8, i16, f32t} {
		for _, g := range []struct {
			name         string
			in, out      [2]int32
			align, halfP bool
		}{
			{"up2x", [2]int32{3, 4}, [2]int32{6, 8}, false, false},
			{"odd", [2]int32{5, 3}, [2]int32{7, 8}, false, false},
			{"down", [2]int32{9, 7}, [2]int32{4, 3}, false, false},
			{"align", [2]int32{5, 3}, [2]int32{7, 8}, true, false},
			{"half", [2]int32{5, 3}, [2]int32{7, 8}, false, true},
			{"alignhalf", [2]int32{4, 6}, [2]int32{9, 5}, true, true},
		} {
			cs = append(cs, opCase{name: "resize_nearest_" + g.name + "_" + typeName(ty), build: func(b *builder.Builder) {
				x := in(b, ty, []int32{2, g.in[0], g.in[1], 3}, qFor(ty))
				size := constI32(b, "size", []int32{2}, g.out[0], g.out[1])
				y := act(b, "output", ty, []int32{2, g.out[0], g.out[1], 3}, qFor(ty))
				b.AddOperator(schema.BuiltinOperatorRESIZE_NEAREST_NEIGHBOR, []builder.Tensor{x, size}, []builder.Tensor{y},
					builder.Options(schema.BuiltinOptionsResizeNearestNeighborOptions, &schema.ResizeNearestNeighborOptionsT{AlignCorners: g.align, HalfPixelCenters: g.halfP}))
				b.Output(y)
			}})
		}
	}
	// SHAPE of a 4-D tensor.
	cs = append(cs, opCase{name: "shape_int8", build: func(b *builder.Builder) {
		x := in(b, i8, []int32{1, 5, 3, 2}, q8)
		y := act(b, "output", schema.TensorTypeINT32, []int32{4}, nil)
		b.AddOperator(schema.BuiltinOperatorSHAPE, []builder.Tensor{x}, []builder.Tensor{y},
			builder.Options(schema.BuiltinOptionsShapeOptions, &schema.ShapeOptionsT{OutType: schema.TensorTypeINT32}))
		b.Output(y)
	}})
	// PACK / UNPACK along every axis, including negative ones.
	for _, ty := range []schema.TensorType{i8, i16, f32t, schema.TensorTypeINT32} {
		for _, axis := range []int32{0, 1, 2, -1} {
			cs = append(cs, opCase{name: "pack_axis" + fmtInt(int(axis)) + "_" + typeName(ty), build: func(b *builder.Builder) {
				x0 := in(b, ty, []int32{2, 3}, qFor(ty))
				x1 := in(b, ty, []int32{2, 3}, qFor(ty))
				x2 := in(b, ty, []int32{2, 3}, qFor(ty))
				shape := []int32{2, 3}
				a := int(axis)
				if a < 0 {
					a += 3
				}
				shape = append(shape[:a:a], append([]int32{3}, shape[a:]...)...)
				y := act(b, "output", ty, shape, qFor(ty))
				b.AddOperator(schema.BuiltinOperatorPACK, []builder.Tensor{x0, x1, x2}, []builder.Tensor{y},
					builder.Options(schema.BuiltinOptionsPackOptions, &schema.PackOptionsT{ValuesCount: 3, Axis: axis}))
				b.Output(y)
			}})
		}
	}
	for _, ty := range []schema.TensorType{i8, f32t} {
		for _, axis := range []int32{0, 1, -1} {
			cs = append(cs, opCase{name: "unpack_axis" + fmtInt(int(axis)) + "_" + typeName(ty), build: func(b *builder.Builder) {
				shape := []int32{2, 3, 4}
				x := in(b, ty, shape, qFor(ty))
				a := int(axis)
				if a < 0 {
					a += 3
				}
				n := shape[a]
				rest := append(append([]int32(nil), shape[:a]...), shape[a+1:]...)
				var ys []builder.Tensor
				for range n {
					ys = append(ys, act(b, "output", ty, rest, qFor(ty)))
				}
				b.AddOperator(schema.BuiltinOperatorUNPACK, []builder.Tensor{x}, ys,
					builder.Options(schema.BuiltinOptionsUnpackOptions, &schema.UnpackOptionsT{Num: n, Axis: axis}))
				b.Output(ys...)
			}})
		}
	}
	// SPLIT / SPLIT_V.
	for _, ty := range []schema.TensorType{i8, i16, f32t} {
		for _, axis := range []int32{1, -1} {
			cs = append(cs, opCase{name: "split_axis" + fmtInt(int(axis)) + "_" + typeName(ty), build: func(b *builder.Builder) {
				x := in(b, ty, []int32{2, 6, 6}, qFor(ty))
				ax := constI32(b, "axis", []int32{}, axis)
				shape := []int32{2, 6, 6}
				shape[(int(axis)+3)%3] = 2
				ys := []builder.Tensor{act(b, "o0", ty, shape, qFor(ty)), act(b, "o1", ty, shape, qFor(ty)), act(b, "o2", ty, shape, qFor(ty))}
				b.AddOperator(schema.BuiltinOperatorSPLIT, []builder.Tensor{ax, x}, ys,
					builder.Options(schema.BuiltinOptionsSplitOptions, &schema.SplitOptionsT{NumSplits: 3}))
				b.Output(ys...)
			}})
		}
		cs = append(cs, opCase{name: "split_v_" + typeName(ty), build: func(b *builder.Builder) {
			x := in(b, ty, []int32{1, 4, 7}, qFor(ty))
			sizes := constI32(b, "sizes", []int32{3}, 2, -1, 4)
			ax := constI32(b, "axis", []int32{1}, 2)
			ys := []builder.Tensor{act(b, "o0", ty, []int32{1, 4, 2}, qFor(ty)), act(b, "o1", ty, []int32{1, 4, 1}, qFor(ty)), act(b, "o2", ty, []int32{1, 4, 4}, qFor(ty))}
			b.AddOperator(schema.BuiltinOperatorSPLIT_V, []builder.Tensor{x, sizes, ax}, ys,
				builder.Options(schema.BuiltinOptionsSplitVOptions, &schema.SplitVOptionsT{NumSplits: 3}))
			b.Output(ys...)
		}})
	}
	// GATHER: constant and input positions, axes and batch_dims.
	for _, ty := range []schema.TensorType{i8, f32t} {
		cs = append(cs, opCase{name: "gather_const_axis1_" + typeName(ty), build: func(b *builder.Builder) {
			x := in(b, ty, []int32{2, 5, 3}, qFor(ty))
			pos := constI32(b, "positions", []int32{2, 2}, 4, 0, 2, 2)
			y := act(b, "output", ty, []int32{2, 2, 2, 3}, qFor(ty))
			b.AddOperator(schema.BuiltinOperatorGATHER, []builder.Tensor{x, pos}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsGatherOptions, &schema.GatherOptionsT{Axis: 1}))
			b.Output(y)
		}})
	}
	cs = append(cs, opCase{name: "gather_input_batchdims1_int8", build: func(b *builder.Builder) {
		x := in(b, i8, []int32{2, 5, 3}, q8)
		pos := act(b, "positions", schema.TensorTypeINT32, []int32{2, 4}, nil)
		b.MarkInput(pos)
		y := act(b, "output", i8, []int32{2, 4, 3}, q8)
		b.AddOperator(schema.BuiltinOperatorGATHER, []builder.Tensor{x, pos}, []builder.Tensor{y},
			builder.Options(schema.BuiltinOptionsGatherOptions, &schema.GatherOptionsT{Axis: -2, BatchDims: 1}))
		b.Output(y)
	}, gen: func(i int, info TensorInfo, rng *rand.Rand) []byte {
		if i != 1 {
			return nil
		}
		d := make([]byte, info.Bytes)
		for j := 0; j < len(d); j += 4 {
			binary.LittleEndian.PutUint32(d[j:], uint32(rng.IntN(5)))
		}
		return d
	}})
	// BROADCAST_TO, EXPAND_DIMS.
	for _, ty := range []schema.TensorType{i8, f32t} {
		cs = append(cs, opCase{name: "broadcast_to_" + typeName(ty), build: func(b *builder.Builder) {
			x := in(b, ty, []int32{3, 1, 2}, qFor(ty))
			shape := constI32(b, "shape", []int32{4}, 2, 3, 4, 2)
			y := act(b, "output", ty, []int32{2, 3, 4, 2}, qFor(ty))
			b.AddOperator(schema.BuiltinOperatorBROADCAST_TO, []builder.Tensor{x, shape}, []builder.Tensor{y}, nil)
			b.Output(y)
		}})
	}
	cs = append(cs, opCase{name: "expand_dims_int8", build: func(b *builder.Builder) {
		x := in(b, i8, []int32{3, 4}, q8)
		axis := constI32(b, "axis", []int32{1}, -1)
		y := act(b, "output", i8, []int32{3, 4, 1}, q8)
		b.AddOperator(schema.BuiltinOperatorEXPAND_DIMS, []builder.Tensor{x, axis}, []builder.Tensor{y},
			builder.Options(schema.BuiltinOptionsExpandDimsOptions, &schema.ExpandDimsOptionsT{}))
		b.Output(y)
	}})
	// DEPTH_TO_SPACE / SPACE_TO_DEPTH.
	for _, ty := range []schema.TensorType{i8, f32t} {
		cs = append(cs, opCase{name: "depth_to_space_" + typeName(ty), build: func(b *builder.Builder) {
			x := in(b, ty, []int32{2, 2, 3, 8}, qFor(ty))
			y := act(b, "output", ty, []int32{2, 4, 6, 2}, qFor(ty))
			b.AddOperator(schema.BuiltinOperatorDEPTH_TO_SPACE, []builder.Tensor{x}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsDepthToSpaceOptions, &schema.DepthToSpaceOptionsT{BlockSize: 2}))
			b.Output(y)
		}})
		cs = append(cs, opCase{name: "space_to_depth_" + typeName(ty), build: func(b *builder.Builder) {
			x := in(b, ty, []int32{1, 6, 3, 2}, qFor(ty))
			y := act(b, "output", ty, []int32{1, 2, 1, 18}, qFor(ty))
			b.AddOperator(schema.BuiltinOperatorSPACE_TO_DEPTH, []builder.Tensor{x}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsSpaceToDepthOptions, &schema.SpaceToDepthOptionsT{BlockSize: 3}))
			b.Output(y)
		}})
	}
	// SPACE_TO_BATCH_ND -> BATCH_TO_SPACE_ND as TF writes dilated convolutions, and alone.
	for _, ty := range []schema.TensorType{i8, f32t} {
		cs = append(cs, opCase{name: "space_to_batch_nd_" + typeName(ty), build: func(b *builder.Builder) {
			x := in(b, ty, []int32{2, 5, 4, 3}, qFor(ty))
			block := constI32(b, "block", []int32{2}, 2, 3)
			pads := constI32(b, "paddings", []int32{2, 2}, 1, 0, 1, 1)
			y := act(b, "output", ty, []int32{12, 3, 2, 3}, qFor(ty))
			b.AddOperator(schema.BuiltinOperatorSPACE_TO_BATCH_ND, []builder.Tensor{x, block, pads}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsSpaceToBatchNDOptions, &schema.SpaceToBatchNDOptionsT{}))
			b.Output(y)
		}})
		cs = append(cs, opCase{name: "batch_to_space_nd_" + typeName(ty), build: func(b *builder.Builder) {
			x := in(b, ty, []int32{12, 3, 2, 3}, qFor(ty))
			block := constI32(b, "block", []int32{2}, 2, 3)
			crops := constI32(b, "crops", []int32{2, 2}, 1, 0, 1, 1)
			y := act(b, "output", ty, []int32{2, 5, 4, 3}, qFor(ty))
			b.AddOperator(schema.BuiltinOperatorBATCH_TO_SPACE_ND, []builder.Tensor{x, block, crops}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsBatchToSpaceNDOptions, &schema.BatchToSpaceNDOptionsT{}))
			b.Output(y)
		}})
	}
	for _, ty := range []schema.TensorType{i8, i16, f32t} {
		cs = append(cs, opCase{name: "slice_" + typeName(ty), build: func(b *builder.Builder) {
			x := in(b, ty, []int32{2, 5, 6, 3}, qFor(ty))
			begin := constI32(b, "begin", []int32{4}, 1, 1, 0, 1)
			size := constI32(b, "size", []int32{4}, 1, 3, -1, 2)
			y := act(b, "output", ty, []int32{1, 3, 6, 2}, qFor(ty))
			b.AddOperator(schema.BuiltinOperatorSLICE, []builder.Tensor{x, begin, size}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsSliceOptions, &schema.SliceOptionsT{}))
			b.Output(y)
		}})
	}
	for _, ty := range []schema.TensorType{i8, f32t} {
		for _, mode := range []schema.MirrorPadMode{schema.MirrorPadModeREFLECT, schema.MirrorPadModeSYMMETRIC} {
			cs = append(cs, opCase{name: "mirror_pad_" + strings.ToLower(schema.EnumNamesMirrorPadMode[mode]) + "_" + typeName(ty), build: func(b *builder.Builder) {
				x := in(b, ty, []int32{1, 4, 5, 2}, qFor(ty))
				pads := constI32(b, "paddings", []int32{4, 2}, 0, 0, 2, 3, 3, 1, 0, 0)
				y := act(b, "output", ty, []int32{1, 9, 9, 2}, qFor(ty))
				b.AddOperator(schema.BuiltinOperatorMIRROR_PAD, []builder.Tensor{x, pads}, []builder.Tensor{y},
					builder.Options(schema.BuiltinOptionsMirrorPadOptions, &schema.MirrorPadOptionsT{Mode: mode}))
				b.Output(y)
			}})
		}
	}
	cs = append(cs, opCase{name: "space_to_batch_nd_3d_int8", build: func(b *builder.Builder) {
		x := in(b, i8, []int32{1, 7, 2}, q8)
		block := constI32(b, "block", []int32{1}, 3)
		pads := constI32(b, "paddings", []int32{1, 2}, 1, 1)
		y := act(b, "output", i8, []int32{3, 3, 2}, q8)
		b.AddOperator(schema.BuiltinOperatorSPACE_TO_BATCH_ND, []builder.Tensor{x, block, pads}, []builder.Tensor{y},
			builder.Options(schema.BuiltinOptionsSpaceToBatchNDOptions, &schema.SpaceToBatchNDOptionsT{}))
		b.Output(y)
	}})
	return cs
}

func boolGen(idx int) func(i int, info TensorInfo, rng *rand.Rand) []byte {
	return func(i int, info TensorInfo, rng *rand.Rand) []byte {
		if i != idx {
			return nil
		}
		d := make([]byte, info.Bytes)
		for j := range d {
			d[j] = byte(rng.IntN(2))
		}
		return d
	}
}

func smallInt32Gen(i int, info TensorInfo, rng *rand.Rand) []byte {
	if info.Type != schema.TensorTypeINT32 {
		return nil
	}
	d := make([]byte, info.Bytes)
	for j := 0; j < len(d); j += 4 {
		binary.LittleEndian.PutUint32(d[j:], uint32(int32(rng.IntN(20001)-10000)))
	}
	return d
}

func binaryCases() []opCase {
	var cs []opCase
	i8, i16, i32t, f32t := schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeFLOAT32
	type qs struct{ a, b, o *tq }
	quants := map[schema.TensorType]qs{
		i8:  {&tq{0.05, 3}, &tq{0.02, -10}, &tq{0.07, 5}},
		i16: {&tq{0.0005, 0}, &tq{0.0002, 0}, &tq{0.0007, 0}},
	}
	shapes := []struct {
		name    string
		a, b, o []int32
	}{
		{"same", []int32{2, 3, 4}, []int32{2, 3, 4}, []int32{2, 3, 4}},
		{"bcast", []int32{2, 3, 4}, []int32{3, 1}, []int32{2, 3, 4}},
		{"scalar", []int32{1}, []int32{2, 5}, []int32{2, 5}},
	}
	ops := []struct {
		name  string
		code  schema.BuiltinOperator
		types []schema.TensorType
		opts  func(act schema.ActivationFunctionType) *schema.BuiltinOptionsT
		acts  bool
	}{
		{"add", schema.BuiltinOperatorADD, []schema.TensorType{i8, i16, i32t, f32t}, func(a schema.ActivationFunctionType) *schema.BuiltinOptionsT {
			return builder.Options(schema.BuiltinOptionsAddOptions, &schema.AddOptionsT{FusedActivationFunction: a})
		}, true},
		{"sub", schema.BuiltinOperatorSUB, []schema.TensorType{i8, i16, i32t, f32t}, func(a schema.ActivationFunctionType) *schema.BuiltinOptionsT {
			return builder.Options(schema.BuiltinOptionsSubOptions, &schema.SubOptionsT{FusedActivationFunction: a})
		}, true},
		{"mul", schema.BuiltinOperatorMUL, []schema.TensorType{i8, i16, i32t, f32t}, func(a schema.ActivationFunctionType) *schema.BuiltinOptionsT {
			return builder.Options(schema.BuiltinOptionsMulOptions, &schema.MulOptionsT{FusedActivationFunction: a})
		}, true},
		{"maximum", schema.BuiltinOperatorMAXIMUM, []schema.TensorType{i8, i16, i32t, f32t}, func(schema.ActivationFunctionType) *schema.BuiltinOptionsT {
			return builder.Options(schema.BuiltinOptionsMaximumMinimumOptions, &schema.MaximumMinimumOptionsT{})
		}, false},
		{"minimum", schema.BuiltinOperatorMINIMUM, []schema.TensorType{i8, i16, i32t, f32t}, func(schema.ActivationFunctionType) *schema.BuiltinOptionsT {
			return builder.Options(schema.BuiltinOptionsMaximumMinimumOptions, &schema.MaximumMinimumOptionsT{})
		}, false},
		{"squared_difference", schema.BuiltinOperatorSQUARED_DIFFERENCE, []schema.TensorType{i8, i16, i32t, f32t}, func(schema.ActivationFunctionType) *schema.BuiltinOptionsT {
			return builder.Options(schema.BuiltinOptionsSquaredDifferenceOptions, &schema.SquaredDifferenceOptionsT{})
		}, false},
	}
	for _, op := range ops {
		for _, ty := range op.types {
			q := quants[ty]
			if op.name == "maximum" || op.name == "minimum" {
				q = qs{qFor(ty), qFor(ty), qFor(ty)} // TFLM compares raw values: one quantization
			}
			for _, sh := range shapes {
				acts := []schema.ActivationFunctionType{schema.ActivationFunctionTypeNONE}
				if op.acts && sh.name == "same" {
					acts = append(acts, schema.ActivationFunctionTypeRELU, schema.ActivationFunctionTypeRELU6, schema.ActivationFunctionTypeRELU_N1_TO_1)
				}
				for _, a := range acts {
					name := op.name + "_" + sh.name + "_" + typeName(ty)
					if a != schema.ActivationFunctionTypeNONE {
						name += "_" + strings.ToLower(schema.EnumNamesActivationFunctionType[a])
					}
					cs = append(cs, opCase{name: name, gen: smallInt32Gen, build: func(b *builder.Builder) {
						x := in(b, ty, sh.a, q.a)
						y := in(b, ty, sh.b, q.b)
						z := act(b, "output", ty, sh.o, q.o)
						b.AddOperator(op.code, []builder.Tensor{x, y}, []builder.Tensor{z}, op.opts(a))
						b.Output(z)
					}})
				}
			}
		}
	}
	// PRELU with a per-channel alpha (int8 alpha for int8 and int16 inputs).
	for _, ty := range []schema.TensorType{i8, i16, f32t} {
		cs = append(cs, opCase{name: "prelu_" + typeName(ty), build: func(b *builder.Builder) {
			x := in(b, ty, []int32{1, 4, 3, 5}, quants[ty].a)
			var aq *tq
			aty := schema.TensorTypeINT8
			if ty == f32t {
				aty = f32t
			} else {
				aq = &tq{0.01, -20}
			}
			alpha := in(b, aty, []int32{1, 1, 5}, aq)
			y := act(b, "output", ty, []int32{1, 4, 3, 5}, quants[ty].o)
			b.AddOperator(schema.BuiltinOperatorPRELU, []builder.Tensor{x, alpha}, []builder.Tensor{y}, nil)
			b.Output(y)
		}})
	}
	// SELECT_V2 with a broadcast condition.
	for _, ty := range []schema.TensorType{i8, i16, f32t} {
		cs = append(cs, opCase{name: "select_v2_" + typeName(ty), gen: boolGen(0), build: func(b *builder.Builder) {
			cond := in(b, schema.TensorTypeBOOL, []int32{3, 1}, nil)
			x := in(b, ty, []int32{2, 3, 4}, qFor(ty))
			y := in(b, ty, []int32{4}, qFor(ty))
			z := act(b, "output", ty, []int32{2, 3, 4}, qFor(ty))
			b.AddOperator(schema.BuiltinOperatorSELECT_V2, []builder.Tensor{cond, x, y}, []builder.Tensor{z},
				builder.Options(schema.BuiltinOptionsSelectV2Options, &schema.SelectV2OptionsT{}))
			b.Output(z)
		}})
	}
	return cs
}

func quantCases() []opCase {
	var cs []opCase
	i8, i16, i32t, u8, f32t := schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeUINT8, schema.TensorTypeFLOAT32
	qin := map[schema.TensorType]*tq{i8: {0.05, 3}, i16: {0.0004, 0}, i32t: {0.0001, 2}, u8: {0.05, 130}, f32t: nil}
	qout := map[schema.TensorType]*tq{i8: {0.07, -5}, i16: {0.00003, 0}, i32t: {0.00002, 0}, u8: {0.07, 120}}
	for _, p := range [][2]schema.TensorType{{f32t, i8}, {f32t, i16}, {i16, i8}, {i8, i8}, {i8, u8}, {u8, i8}, {i8, i16}, {i8, i32t}, {i16, i16}, {i16, i32t}, {i32t, i8}, {i32t, i16}} {
		cs = append(cs, opCase{name: "quantize_" + typeName(p[0]) + "_to_" + typeName(p[1]), build: func(b *builder.Builder) {
			x := in(b, p[0], []int32{3, 17}, qin[p[0]])
			y := act(b, "output", p[1], []int32{3, 17}, qout[p[1]])
			b.AddOperator(schema.BuiltinOperatorQUANTIZE, []builder.Tensor{x}, []builder.Tensor{y}, nil)
			b.Output(y)
		}})
	}
	for _, ty := range []schema.TensorType{i8, i16, u8} {
		cs = append(cs, opCase{name: "dequantize_" + typeName(ty), build: func(b *builder.Builder) {
			x := in(b, ty, []int32{3, 17}, qin[ty])
			y := act(b, "output", f32t, []int32{3, 17}, nil)
			b.AddOperator(schema.BuiltinOperatorDEQUANTIZE, []builder.Tensor{x}, []builder.Tensor{y}, nil)
			b.Output(y)
		}})
	}
	// SOFTMAX int8 -> int16 (the keyword model's head), two betas.
	for _, beta := range []float32{1, 0.5} {
		cs = append(cs, opCase{name: "softmax_int8_to_int16_beta" + strconv.FormatFloat(float64(beta), 'g', -1, 32), build: func(b *builder.Builder) {
			x := in(b, i8, []int32{3, 10}, &tq{0.1, -4})
			y := act(b, "output", i16, []int32{3, 10}, &tq{1.0 / 65536, -32768})
			b.AddOperator(schema.BuiltinOperatorSOFTMAX, []builder.Tensor{x}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsSoftmaxOptions, &schema.SoftmaxOptionsT{Beta: beta}))
			b.Output(y)
		}})
	}
	// SOFTMAX int16 -> int16 (table based), several input scales and betas.
	for _, g := range []struct {
		scale, beta float32
	}{{0.0005, 1}, {0.002, 1}, {0.0001, 1}, {0.0005, 0.3}} {
		cs = append(cs, opCase{name: "softmax_int16_s" + strconv.FormatFloat(float64(g.scale), 'g', -1, 32) + "_beta" + strconv.FormatFloat(float64(g.beta), 'g', -1, 32), build: func(b *builder.Builder) {
			x := in(b, i16, []int32{4, 13}, &tq{g.scale, 0})
			y := act(b, "output", i16, []int32{4, 13}, &tq{1.0 / 32768, 0})
			b.AddOperator(schema.BuiltinOperatorSOFTMAX, []builder.Tensor{x}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsSoftmaxOptions, &schema.SoftmaxOptionsT{Beta: g.beta}))
			b.Output(y)
		}})
	}
	// SVDF: int16 and int8 state, rank 1 and 2, batch 2, one and four invocations.
	for _, st := range []schema.TensorType{i16, i8} {
		for _, rank := range []int32{1, 2} {
			for _, n := range []int{1, 4} {
				name := "svdf_state_" + typeName(st) + "_rank" + fmtInt(int(rank)) + "_x" + fmtInt(n)
				cs = append(cs, opCase{name: name, build: func(b *builder.Builder) {
					const batch, inputSize, units, memory = 2, 7, 3, 5
					filters := units * rank
					rng := rand.New(rand.NewPCG(uint64(rank), uint64(st)))
					x := in(b, i8, []int32{batch, inputSize}, &tq{0.03, -2})
					wf := make([]byte, int(filters)*inputSize)
					for i := range wf {
						wf[i] = byte(rng.IntN(256))
					}
					wfT := b.AddTensor(builder.TensorSpec{Name: "weights_feature", Type: i8, Shape: []int32{filters, inputSize}, Scale: []float32{0.004}, ZeroPoint: []int64{0}, Data: wf})
					stScale, wtScale := float32(0.002), float32(0.0005)
					stZp := int64(0)
					var wt []byte
					if st == i16 {
						wt = make([]byte, 2*int(filters)*memory)
						for i := 0; i < len(wt); i += 2 {
							binary.LittleEndian.PutUint16(wt[i:], uint16(int16(rng.IntN(4001)-2000)))
						}
					} else {
						stScale, wtScale, stZp = 0.05, 0.01, 4
						wt = make([]byte, int(filters)*memory)
						for i := range wt {
							wt[i] = byte(rng.IntN(256))
						}
					}
					wtT := b.AddTensor(builder.TensorSpec{Name: "weights_time", Type: st, Shape: []int32{filters, memory}, Scale: []float32{wtScale}, ZeroPoint: []int64{0}, Data: wt})
					bias := make([]byte, 4*units)
					for i := 0; i < len(bias); i += 4 {
						binary.LittleEndian.PutUint32(bias[i:], uint32(int32(rng.IntN(20001)-10000)))
					}
					biasT := b.AddTensor(builder.TensorSpec{Name: "bias", Type: i32t, Shape: []int32{units}, Scale: []float32{stScale * wtScale}, ZeroPoint: []int64{0}, Data: bias})
					state := b.AddTensor(builder.TensorSpec{Name: "state", Type: st, Shape: []int32{batch, memory * filters}, Scale: []float32{stScale}, ZeroPoint: []int64{stZp}, Variable: true})
					outQ := &tq{0.02, 1}
					if st == i16 {
						outQ = &tq{0.1, 1}
					}
					y := act(b, "output", i8, []int32{batch, units}, outQ)
					b.AddOperator(schema.BuiltinOperatorSVDF, []builder.Tensor{x, wfT, wtT, biasT, state}, []builder.Tensor{y},
						builder.Options(schema.BuiltinOptionsSVDFOptions, &schema.SVDFOptionsT{Rank: rank}))
					b.Output(y)
				}})
			}
		}
	}
	return cs
}

func unaryCases() []opCase {
	var cs []opCase
	i8, i16, i32t, f32t := schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeFLOAT32
	u := func(name string, code schema.BuiltinOperator, ty schema.TensorType, qi, qo *tq, opts *schema.BuiltinOptionsT) opCase {
		return opCase{name: name, build: func(b *builder.Builder) {
			// 2 x 256 elements: every int8 value appears (random draws) with saturation.
			x := in(b, ty, []int32{2, 256}, qi)
			y := act(b, "output", ty, []int32{2, 256}, qo)
			b.AddOperator(code, []builder.Tensor{x}, []builder.Tensor{y}, opts)
			b.Output(y)
		}}
	}
	for _, q := range []*tq{{0.05, 3}, {0.2, -30}, {0.01, 0}} {
		sfx := "_s" + strconv.FormatFloat(float64(q.scale), 'g', -1, 32)
		cs = append(cs,
			u("tanh_int8"+sfx, schema.BuiltinOperatorTANH, i8, q, &tq{1.0 / 128, 0}, nil),
			u("logistic_int8"+sfx, schema.BuiltinOperatorLOGISTIC, i8, q, &tq{1.0 / 256, -128}, nil),
			u("elu_int8"+sfx, schema.BuiltinOperatorELU, i8, q, &tq{0.04, -100}, nil),
			u("abs_int8"+sfx, schema.BuiltinOperatorABS, i8, q, &tq{0.03, -128}, nil),
			u("rsqrt_int8"+sfx, schema.BuiltinOperatorRSQRT, i8, &tq{q.scale, -128}, &tq{0.1, -128}, nil),
		)
	}
	cs = append(cs, u("abs_int8_samescale", schema.BuiltinOperatorABS, i8, &tq{0.05, 3}, &tq{0.05, -3}, nil))
	for _, s := range []float32{1.0 / 4096, 1.0 / 8192, 0.0003, 0.001} {
		sfx := "_s" + strconv.FormatFloat(float64(s), 'g', -1, 32)
		cs = append(cs,
			u("tanh_int16"+sfx, schema.BuiltinOperatorTANH, i16, &tq{s, 0}, &tq{1.0 / 32768, 0}, nil),
			u("logistic_int16"+sfx, schema.BuiltinOperatorLOGISTIC, i16, &tq{s, 0}, &tq{1.0 / 32768, 0}, nil),
		)
	}
	cs = append(cs, u("abs_int16", schema.BuiltinOperatorABS, i16, &tq{0.001, 0}, &tq{0.0007, 0}, nil))
	for _, code := range []schema.BuiltinOperator{schema.BuiltinOperatorTANH, schema.BuiltinOperatorLOGISTIC, schema.BuiltinOperatorELU,
		schema.BuiltinOperatorEXP, schema.BuiltinOperatorNEG, schema.BuiltinOperatorABS} {
		cs = append(cs, u(strings.ToLower(schema.EnumNamesBuiltinOperator[code])+"_float32", code, f32t, nil, nil, nil))
	}
	// RSQRT float32 on positive inputs.
	rs := u("rsqrt_float32", schema.BuiltinOperatorRSQRT, f32t, nil, nil, nil)
	rs.gen = func(i int, info TensorInfo, rng *rand.Rand) []byte {
		d := make([]byte, info.Bytes)
		for j := 0; j < len(d); j += 4 {
			binary.LittleEndian.PutUint32(d[j:], math.Float32bits(float32(rng.Float64()*100+1e-3)))
		}
		return d
	}
	cs = append(cs, rs)
	// CAST between the supported types.
	for _, p := range [][2]schema.TensorType{{i8, f32t}, {i16, i32t}, {i32t, i8}, {f32t, i32t}, {f32t, i8}, {i32t, f32t}, {schema.TensorTypeBOOL, f32t}, {i8, i16}} {
		c := opCase{name: "cast_" + typeName(p[0]) + "_to_" + typeName(p[1]), build: func(b *builder.Builder) {
			x := in(b, p[0], []int32{3, 7}, nil)
			y := act(b, "output", p[1], []int32{3, 7}, nil)
			b.AddOperator(schema.BuiltinOperatorCAST, []builder.Tensor{x}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsCastOptions, &schema.CastOptionsT{InDataType: p[0], OutDataType: p[1]}))
			b.Output(y)
		}}
		switch p[0] {
		case schema.TensorTypeBOOL:
			c.gen = boolGen(0)
		case i32t:
			c.gen = smallInt32Gen
		case f32t:
			c.gen = func(i int, info TensorInfo, rng *rand.Rand) []byte {
				d := make([]byte, info.Bytes)
				for j := 0; j < len(d); j += 4 {
					binary.LittleEndian.PutUint32(d[j:], math.Float32bits(float32(rng.Float64()*200-100)))
				}
				return d
			}
		}
		cs = append(cs, c)
	}
	return cs
}

func reduceCases() []opCase {
	var cs []opCase
	i8, i16, f32t := schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeFLOAT32
	axesSets := []struct {
		name string
		axes []int32
	}{{"hw", []int32{1, 2}}, {"last", []int32{-1}}, {"all", []int32{0, 1, 2, 3}}, {"c0", []int32{0, 3}}}
	ops := []struct {
		name  string
		code  schema.BuiltinOperator
		types []schema.TensorType
		same  bool
	}{
		{"mean", schema.BuiltinOperatorMEAN, []schema.TensorType{i8, i16, f32t}, false},
		{"sum", schema.BuiltinOperatorSUM, []schema.TensorType{i8, i16, f32t}, false},
		{"reduce_max", schema.BuiltinOperatorREDUCE_MAX, []schema.TensorType{i8, f32t}, true},
		{"reduce_min", schema.BuiltinOperatorREDUCE_MIN, []schema.TensorType{i8, f32t}, true},
	}
	for _, op := range ops {
		for _, ty := range op.types {
			for _, ax := range axesSets {
				for _, keep := range []bool{true, false} {
					name := op.name + "_" + ax.name + "_" + typeName(ty)
					if !keep {
						name += "_nokeep"
					}
					cs = append(cs, opCase{name: name, build: func(b *builder.Builder) {
						shape := []int32{2, 5, 4, 3}
						qi, qo := qFor(ty), qFor(ty)
						if !op.same && ty == i8 {
							qo = &tq{0.3, -7}
						} else if !op.same && ty == i16 {
							qo = &tq{0.004, 0}
						}
						x := in(b, ty, shape, qi)
						axes := constI32(b, "axes", []int32{int32(len(ax.axes))}, ax.axes...)
						var os []int32
						for d, v := range shape {
							red := false
							for _, a := range ax.axes {
								if (int(a)+4)%4 == d {
									red = true
								}
							}
							if !red {
								os = append(os, v)
							} else if keep {
								os = append(os, 1)
							}
						}
						y := act(b, "output", ty, os, qo)
						b.AddOperator(op.code, []builder.Tensor{x, axes}, []builder.Tensor{y},
							builder.Options(schema.BuiltinOptionsReducerOptions, &schema.ReducerOptionsT{KeepDims: keep}))
						b.Output(y)
					}})
				}
			}
		}
	}
	// ARG_MAX / ARG_MIN, with ties (int8 values in a narrow range).
	for _, isMax := range []bool{true, false} {
		code, name := schema.BuiltinOperatorARG_MAX, "arg_max"
		if !isMax {
			code, name = schema.BuiltinOperatorARG_MIN, "arg_min"
		}
		for _, ty := range []schema.TensorType{i8, f32t} {
			for _, axis := range []int32{1, -1} {
				cs = append(cs, opCase{name: name + "_axis" + fmtInt(int(axis)) + "_" + typeName(ty), gen: func(i int, info TensorInfo, rng *rand.Rand) []byte {
					if info.Type != i8 {
						return nil
					}
					d := make([]byte, info.Bytes)
					for j := range d {
						d[j] = byte(int8(rng.IntN(7) - 3))
					}
					return d
				}, build: func(b *builder.Builder) {
					x := in(b, ty, []int32{2, 6, 5}, qFor(ty))
					axT := constI32(b, "axis", []int32{1}, axis)
					os := []int32{2, 5}
					if axis == -1 {
						os = []int32{2, 6}
					}
					y := act(b, "output", schema.TensorTypeINT32, os, nil)
					var opts *schema.BuiltinOptionsT
					if isMax {
						opts = builder.Options(schema.BuiltinOptionsArgMaxOptions, &schema.ArgMaxOptionsT{OutputType: schema.TensorTypeINT32})
					} else {
						opts = builder.Options(schema.BuiltinOptionsArgMinOptions, &schema.ArgMinOptionsT{OutputType: schema.TensorTypeINT32})
					}
					b.AddOperator(code, []builder.Tensor{x, axT}, []builder.Tensor{y}, opts)
					b.Output(y)
				}})
			}
		}
	}
	// L2_NORMALIZATION (int8 output scale 1/128, zero point 0).
	for _, ty := range []schema.TensorType{i8, f32t} {
		cs = append(cs, opCase{name: "l2_normalization_" + typeName(ty), build: func(b *builder.Builder) {
			x := in(b, ty, []int32{2, 3, 17}, qFor(ty))
			var qo *tq
			if ty == i8 {
				qo = &tq{1.0 / 128, 0}
			}
			y := act(b, "output", ty, []int32{2, 3, 17}, qo)
			b.AddOperator(schema.BuiltinOperatorL2_NORMALIZATION, []builder.Tensor{x}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsL2NormOptions, &schema.L2NormOptionsT{}))
			b.Output(y)
		}})
	}
	// RESIZE_BILINEAR: up, down, odd sizes, align_corners, half_pixel_centers.
	for _, ty := range []schema.TensorType{i8, f32t} {
		for _, g := range []struct {
			name         string
			in, out      [2]int32
			align, halfP bool
		}{
			{"up2x", [2]int32{3, 4}, [2]int32{6, 8}, false, false},
			{"odd", [2]int32{5, 3}, [2]int32{7, 8}, false, false},
			{"down", [2]int32{9, 7}, [2]int32{4, 3}, false, false},
			{"align", [2]int32{5, 3}, [2]int32{7, 8}, true, false},
			{"half", [2]int32{5, 3}, [2]int32{7, 8}, false, true},
			{"half_down", [2]int32{9, 7}, [2]int32{4, 3}, false, true},
		} {
			cs = append(cs, opCase{name: "resize_bilinear_" + g.name + "_" + typeName(ty), build: func(b *builder.Builder) {
				x := in(b, ty, []int32{2, g.in[0], g.in[1], 3}, qFor(ty))
				size := constI32(b, "size", []int32{2}, g.out[0], g.out[1])
				y := act(b, "output", ty, []int32{2, g.out[0], g.out[1], 3}, qFor(ty))
				b.AddOperator(schema.BuiltinOperatorRESIZE_BILINEAR, []builder.Tensor{x, size}, []builder.Tensor{y},
					builder.Options(schema.BuiltinOptionsResizeBilinearOptions, &schema.ResizeBilinearOptionsT{AlignCorners: g.align, HalfPixelCenters: g.halfP}))
				b.Output(y)
			}})
		}
	}
	return cs
}

// randBytes draws n random bytes from rng.
func randBytes(rng *rand.Rand, n int) []byte {
	d := make([]byte, n)
	for i := range d {
		d[i] = byte(rng.Uint32())
	}
	return d
}

func biasTensor(b *builder.Builder, rng *rand.Rand, ty schema.TensorType, n int, scales []float32, spread int) builder.Tensor {
	var d []byte
	if ty == schema.TensorTypeINT64 {
		d = make([]byte, 8*n)
		for i := 0; i < len(d); i += 8 {
			binary.LittleEndian.PutUint64(d[i:], uint64(int64(rng.IntN(2*spread+1)-spread)))
		}
	} else {
		d = make([]byte, 4*n)
		for i := 0; i < len(d); i += 4 {
			binary.LittleEndian.PutUint32(d[i:], uint32(int32(rng.IntN(2*spread+1)-spread)))
		}
	}
	return b.AddTensor(builder.TensorSpec{Name: "bias", Type: ty, Shape: []int32{int32(n)}, Scale: scales, ZeroPoint: make([]int64, len(scales)), Data: d})
}

// noBias marks a case without a bias tensor.
const noBias = schema.TensorType(-1)

func conv16Cases() []opCase {
	var cs []opCase
	i8, i16, i32t, i64t := schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeINT64
	inQ, outQ := &tq{0.0005, 0}, &tq{0.002, 0}
	for _, bt := range []schema.TensorType{i64t, i32t, noBias} {
		for _, g := range []struct {
			name           string
			k, stride, dil int
			pad            schema.Padding
			act            schema.ActivationFunctionType
			groups         int
		}{
			{"3x3_same", 3, 1, 1, schema.PaddingSAME, schema.ActivationFunctionTypeNONE, 1},
			{"3x3_s2_valid_relu6", 3, 2, 1, schema.PaddingVALID, schema.ActivationFunctionTypeRELU6, 1},
			{"3x3_dil2_same_relu", 3, 1, 2, schema.PaddingSAME, schema.ActivationFunctionTypeRELU, 1},
			{"1x1_grouped", 1, 1, 1, schema.PaddingVALID, schema.ActivationFunctionTypeNONE, 2},
		} {
			bname := "nobias"
			if bt != noBias {
				bname = typeName(bt) + "bias"
			}
			cs = append(cs, opCase{name: "conv_16x8_" + g.name + "_" + bname, build: func(b *builder.Builder) {
				rng := rand.New(rand.NewPCG(uint64(g.k*10+g.stride), hashName(g.name+bname)))
				const h, w, ic, oc = 7, 6, 4, 6
				x := in(b, i16, []int32{1, h, w, ic}, inQ)
				cg := ic / g.groups
				scales := make([]float32, oc)
				for i := range scales {
					scales[i] = 0.002 + 0.001*float32(i)
				}
				wT := b.AddTensor(builder.TensorSpec{Name: "weights", Type: i8, Shape: []int32{oc, int32(g.k), int32(g.k), int32(cg)}, Scale: scales, ZeroPoint: make([]int64, oc),
					Data: randBytes(rng, oc*g.k*g.k*cg)})
				bias := builder.NoTensor
				if bt != noBias {
					bs := make([]float32, oc)
					for i := range bs {
						bs[i] = inQ.scale * scales[i]
					}
					bias = biasTensor(b, rng, bt, oc, bs, 400000)
				}
				oh := builder.OutputSize(h, g.k, g.stride, g.dil, g.pad)
				ow := builder.OutputSize(w, g.k, g.stride, g.dil, g.pad)
				y := act(b, "output", i16, []int32{1, int32(oh), int32(ow), oc}, outQ)
				b.AddOperator(schema.BuiltinOperatorCONV_2D, []builder.Tensor{x, wT, bias}, []builder.Tensor{y},
					builder.Options(schema.BuiltinOptionsConv2DOptions, &schema.Conv2DOptionsT{Padding: g.pad, StrideH: int32(g.stride), StrideW: int32(g.stride),
						DilationHFactor: int32(g.dil), DilationWFactor: int32(g.dil), FusedActivationFunction: g.act}))
				b.Output(y)
			}})
		}
	}
	for _, g := range []struct {
		name            string
		k, stride, mult int
		pad             schema.Padding
		act             schema.ActivationFunctionType
	}{
		{"3x3_same", 3, 1, 1, schema.PaddingSAME, schema.ActivationFunctionTypeNONE},
		{"3x3_s2_valid_mult2_relu6", 3, 2, 2, schema.PaddingVALID, schema.ActivationFunctionTypeRELU6},
	} {
		cs = append(cs, opCase{name: "depthwise_16x8_" + g.name, build: func(b *builder.Builder) {
			rng := rand.New(rand.NewPCG(uint64(g.k), hashName(g.name)))
			const h, w, ic = 7, 6, 4
			oc := ic * g.mult
			x := in(b, i16, []int32{1, h, w, ic}, inQ)
			scales := make([]float32, oc)
			for i := range scales {
				scales[i] = 0.003 + 0.001*float32(i)
			}
			wT := b.AddTensor(builder.TensorSpec{Name: "weights", Type: i8, Shape: []int32{1, int32(g.k), int32(g.k), int32(oc)}, Scale: scales, ZeroPoint: make([]int64, oc),
				QuantizedDimension: 3, Data: randBytes(rng, g.k*g.k*oc)})
			bs := make([]float32, oc)
			for i := range bs {
				bs[i] = inQ.scale * scales[i]
			}
			bias := biasTensor(b, rng, i64t, oc, bs, 100000)
			oh := builder.OutputSize(h, g.k, g.stride, 1, g.pad)
			ow := builder.OutputSize(w, g.k, g.stride, 1, g.pad)
			y := act(b, "output", i16, []int32{1, int32(oh), int32(ow), int32(oc)}, outQ)
			b.AddOperator(schema.BuiltinOperatorDEPTHWISE_CONV_2D, []builder.Tensor{x, wT, bias}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsDepthwiseConv2DOptions, &schema.DepthwiseConv2DOptionsT{Padding: g.pad, StrideH: int32(g.stride), StrideW: int32(g.stride),
					DepthMultiplier: int32(g.mult), DilationHFactor: 1, DilationWFactor: 1, FusedActivationFunction: g.act}))
			b.Output(y)
		}})
	}
	for _, bt := range []schema.TensorType{i64t, i32t} {
		for _, perCh := range []bool{false, true} {
			name := "fully_connected_16x8_" + typeName(bt) + "bias"
			if perCh {
				name += "_perchannel"
			}
			cs = append(cs, opCase{name: name, build: func(b *builder.Builder) {
				rng := rand.New(rand.NewPCG(uint64(bt), hashName(name)))
				const batch, depth, units = 3, 37, 5
				x := in(b, i16, []int32{batch, depth}, inQ)
				scales := []float32{0.004}
				if perCh {
					scales = []float32{0.002, 0.003, 0.004, 0.005, 0.006}
				}
				wT := b.AddTensor(builder.TensorSpec{Name: "weights", Type: i8, Shape: []int32{units, depth}, Scale: scales, ZeroPoint: make([]int64, len(scales)), Data: randBytes(rng, units*depth)})
				bs := make([]float32, len(scales))
				for i := range bs {
					bs[i] = inQ.scale * scales[i]
				}
				bias := biasTensor(b, rng, bt, units, bs, 300000)
				y := act(b, "output", i16, []int32{batch, units}, outQ)
				b.AddOperator(schema.BuiltinOperatorFULLY_CONNECTED, []builder.Tensor{x, wT, bias}, []builder.Tensor{y},
					builder.Options(schema.BuiltinOptionsFullyConnectedOptions, &schema.FullyConnectedOptionsT{}))
				b.Output(y)
			}})
		}
	}
	return cs
}

func transposeConvCases() []opCase {
	var cs []opCase
	for _, bt := range []schema.TensorType{schema.TensorTypeINT64, schema.TensorTypeINT16, noBias} {
		bname := "nobias"
		if bt != noBias {
			bname = typeName(bt) + "bias"
		}
		cs = append(cs, opCase{name: "transpose_conv_16x8_k3_s2_same_" + bname, build: func(b *builder.Builder) {
			rng := rand.New(rand.NewPCG(3, hashName(bname)))
			const h, w, ic, oc = 4, 5, 3, 4
			inQ, outQ := &tq{0.0005, 0}, &tq{0.003, 0}
			scales := []float32{0.01, 0.012, 0.008, 0.015}
			shape := constI32(b, "output_shape", []int32{4}, 1, 2*h, 2*w, oc)
			wT := b.AddTensor(builder.TensorSpec{Name: "weights", Type: schema.TensorTypeINT8, Shape: []int32{oc, 3, 3, ic}, Scale: scales, ZeroPoint: make([]int64, oc), Data: randBytes(rng, oc*9*ic)})
			x := in(b, schema.TensorTypeINT16, []int32{1, h, w, ic}, inQ)
			bias := builder.NoTensor
			bs := make([]float32, oc)
			for i := range bs {
				bs[i] = inQ.scale * scales[i]
			}
			switch bt {
			case schema.TensorTypeINT64:
				bias = biasTensor(b, rng, bt, oc, bs, 200000)
			case schema.TensorTypeINT16:
				d := make([]byte, 2*oc)
				for i := 0; i < len(d); i += 2 {
					binary.LittleEndian.PutUint16(d[i:], uint16(int16(rng.IntN(20001)-10000)))
				}
				bias = b.AddTensor(builder.TensorSpec{Name: "bias", Type: bt, Shape: []int32{oc}, Scale: bs, ZeroPoint: make([]int64, oc), Data: d})
			}
			y := act(b, "output", schema.TensorTypeINT16, []int32{1, 2 * h, 2 * w, oc}, outQ)
			b.AddOperator(schema.BuiltinOperatorTRANSPOSE_CONV, []builder.Tensor{shape, wT, x, bias}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsTransposeConvOptions, &schema.TransposeConvOptionsT{Padding: schema.PaddingSAME, StrideH: 2, StrideW: 2}))
			b.Output(y)
		}})
	}
	for _, ty := range []schema.TensorType{schema.TensorTypeINT8, schema.TensorTypeFLOAT32} {
		for _, g := range []struct {
			name      string
			k, stride int
			pad       schema.Padding
			act       schema.ActivationFunctionType
			bias      bool
		}{
			{"k3_s2_same", 3, 2, schema.PaddingSAME, schema.ActivationFunctionTypeNONE, true},
			{"k3_s2_valid_relu", 3, 2, schema.PaddingVALID, schema.ActivationFunctionTypeRELU, true},
			{"k4_s2_same_nobias", 4, 2, schema.PaddingSAME, schema.ActivationFunctionTypeNONE, false},
			{"k2_s1_valid_relu6", 2, 1, schema.PaddingVALID, schema.ActivationFunctionTypeRELU6, true},
		} {
			cs = append(cs, opCase{name: "transpose_conv_" + g.name + "_" + typeName(ty), build: func(b *builder.Builder) {
				rng := rand.New(rand.NewPCG(uint64(g.k), hashName(g.name)))
				const h, w, ic, oc = 4, 5, 3, 4
				var oh, ow int
				if g.pad == schema.PaddingSAME {
					oh, ow = h*g.stride, w*g.stride
				} else {
					oh, ow = (h-1)*g.stride+g.k, (w-1)*g.stride+g.k
				}
				var inQ, outQ *tq
				var scales []float32
				var wd []byte
				if ty == schema.TensorTypeINT8 {
					inQ, outQ = &tq{0.05, 3}, &tq{0.1, -6}
					scales = []float32{0.01, 0.012, 0.008, 0.015}
					wd = randBytes(rng, oc*g.k*g.k*ic)
				} else {
					wd = make([]byte, 4*oc*g.k*g.k*ic)
					for i := 0; i < len(wd); i += 4 {
						binary.LittleEndian.PutUint32(wd[i:], math.Float32bits(float32(rng.Float64()*2-1)))
					}
				}
				shape := constI32(b, "output_shape", []int32{4}, 1, int32(oh), int32(ow), oc)
				wT := b.AddTensor(builder.TensorSpec{Name: "weights", Type: ty, Shape: []int32{oc, int32(g.k), int32(g.k), ic}, Scale: scales, ZeroPoint: make([]int64, len(scales)), Data: wd})
				x := in(b, ty, []int32{1, h, w, ic}, inQ)
				bias := builder.NoTensor
				if g.bias {
					if ty == schema.TensorTypeINT8 {
						bs := make([]float32, oc)
						for i := range bs {
							bs[i] = inQ.scale * scales[i]
						}
						bias = biasTensor(b, rng, schema.TensorTypeINT32, oc, bs, 3000)
					} else {
						bd := make([]byte, 4*oc)
						for i := 0; i < len(bd); i += 4 {
							binary.LittleEndian.PutUint32(bd[i:], math.Float32bits(float32(rng.Float64()-0.5)))
						}
						bias = b.AddTensor(builder.TensorSpec{Name: "bias", Type: ty, Shape: []int32{oc}, Data: bd})
					}
				}
				y := act(b, "output", ty, []int32{1, int32(oh), int32(ow), oc}, outQ)
				b.AddOperator(schema.BuiltinOperatorTRANSPOSE_CONV, []builder.Tensor{shape, wT, x, bias}, []builder.Tensor{y},
					builder.Options(schema.BuiltinOptionsTransposeConvOptions, &schema.TransposeConvOptionsT{Padding: g.pad, StrideH: int32(g.stride), StrideW: int32(g.stride), FusedActivationFunction: g.act}))
				b.Output(y)
			}})
		}
	}
	return cs
}

func floatBytes(rng *rand.Rand, n int, lo, hi float64) []byte {
	d := make([]byte, 4*n)
	for i := 0; i < len(d); i += 4 {
		binary.LittleEndian.PutUint32(d[i:], math.Float32bits(float32(lo+rng.Float64()*(hi-lo))))
	}
	return d
}

// floatCases covers the float32 convolutions, pooling and softmax, and int16 pooling and
// RELU/RELU6.
func floatCases() []opCase {
	var cs []opCase
	f32t, i16 := schema.TensorTypeFLOAT32, schema.TensorTypeINT16
	for _, g := range []struct {
		name           string
		k, stride, dil int
		pad            schema.Padding
		act            schema.ActivationFunctionType
		bias           bool
	}{
		{"3x3_same", 3, 1, 1, schema.PaddingSAME, schema.ActivationFunctionTypeNONE, true},
		{"3x3_s2_valid_relu6", 3, 2, 1, schema.PaddingVALID, schema.ActivationFunctionTypeRELU6, true},
		{"3x3_dil2_same_relu_nobias", 3, 1, 2, schema.PaddingSAME, schema.ActivationFunctionTypeRELU, false},
	} {
		cs = append(cs, opCase{name: "conv_float32_" + g.name, build: func(b *builder.Builder) {
			rng := rand.New(rand.NewPCG(uint64(g.k), hashName("conv"+g.name)))
			const h, w, ic, oc = 7, 6, 3, 5
			x := in(b, f32t, []int32{1, h, w, ic}, nil)
			wT := b.AddTensor(builder.TensorSpec{Name: "weights", Type: f32t, Shape: []int32{oc, int32(g.k), int32(g.k), ic}, Data: floatBytes(rng, oc*g.k*g.k*ic, -1, 1)})
			bias := builder.NoTensor
			if g.bias {
				bias = b.AddTensor(builder.TensorSpec{Name: "bias", Type: f32t, Shape: []int32{oc}, Data: floatBytes(rng, oc, -1, 1)})
			}
			oh, ow := builder.OutputSize(h, g.k, g.stride, g.dil, g.pad), builder.OutputSize(w, g.k, g.stride, g.dil, g.pad)
			y := act(b, "output", f32t, []int32{1, int32(oh), int32(ow), oc}, nil)
			b.AddOperator(schema.BuiltinOperatorCONV_2D, []builder.Tensor{x, wT, bias}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsConv2DOptions, &schema.Conv2DOptionsT{Padding: g.pad, StrideH: int32(g.stride), StrideW: int32(g.stride),
					DilationHFactor: int32(g.dil), DilationWFactor: int32(g.dil), FusedActivationFunction: g.act}))
			b.Output(y)
		}})
		cs = append(cs, opCase{name: "depthwise_float32_" + strings.TrimSuffix(g.name, "_nobias"), build: func(b *builder.Builder) {
			rng := rand.New(rand.NewPCG(uint64(g.k), hashName("dw"+g.name)))
			const h, w, ic, mult = 7, 6, 3, 2
			oc := ic * mult
			x := in(b, f32t, []int32{1, h, w, ic}, nil)
			wT := b.AddTensor(builder.TensorSpec{Name: "weights", Type: f32t, Shape: []int32{1, int32(g.k), int32(g.k), int32(oc)}, Data: floatBytes(rng, oc*g.k*g.k, -1, 1)})
			// Always with bias: this TFLM build crashes on a float DEPTHWISE_CONV_2D without one.
			bias := b.AddTensor(builder.TensorSpec{Name: "bias", Type: f32t, Shape: []int32{int32(oc)}, Data: floatBytes(rng, oc, -1, 1)})
			oh, ow := builder.OutputSize(h, g.k, g.stride, g.dil, g.pad), builder.OutputSize(w, g.k, g.stride, g.dil, g.pad)
			y := act(b, "output", f32t, []int32{1, int32(oh), int32(ow), int32(oc)}, nil)
			b.AddOperator(schema.BuiltinOperatorDEPTHWISE_CONV_2D, []builder.Tensor{x, wT, bias}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsDepthwiseConv2DOptions, &schema.DepthwiseConv2DOptionsT{Padding: g.pad, StrideH: int32(g.stride), StrideW: int32(g.stride),
					DepthMultiplier: mult, DilationHFactor: int32(g.dil), DilationWFactor: int32(g.dil), FusedActivationFunction: g.act}))
			b.Output(y)
		}})
	}
	for _, act6 := range []schema.ActivationFunctionType{schema.ActivationFunctionTypeNONE, schema.ActivationFunctionTypeRELU} {
		cs = append(cs, opCase{name: "fully_connected_float32_" + strings.ToLower(schema.EnumNamesActivationFunctionType[act6]), build: func(b *builder.Builder) {
			rng := rand.New(rand.NewPCG(uint64(act6), 7))
			x := in(b, f32t, []int32{3, 41}, nil)
			wT := b.AddTensor(builder.TensorSpec{Name: "weights", Type: f32t, Shape: []int32{6, 41}, Data: floatBytes(rng, 6*41, -1, 1)})
			bias := b.AddTensor(builder.TensorSpec{Name: "bias", Type: f32t, Shape: []int32{6}, Data: floatBytes(rng, 6, -1, 1)})
			y := act(b, "output", f32t, []int32{3, 6}, nil)
			b.AddOperator(schema.BuiltinOperatorFULLY_CONNECTED, []builder.Tensor{x, wT, bias}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsFullyConnectedOptions, &schema.FullyConnectedOptionsT{FusedActivationFunction: act6}))
			b.Output(y)
		}})
	}
	for _, ty := range []schema.TensorType{f32t, i16} {
		for _, avg := range []bool{true, false} {
			for _, pad := range []schema.Padding{schema.PaddingSAME, schema.PaddingVALID} {
				code, name := schema.BuiltinOperatorMAX_POOL_2D, "max_pool"
				if avg {
					code, name = schema.BuiltinOperatorAVERAGE_POOL_2D, "average_pool"
				}
				name += "_3x3_s2_" + strings.ToLower(schema.EnumNamesPadding[pad]) + "_" + typeName(ty)
				cs = append(cs, opCase{name: name, build: func(b *builder.Builder) {
					q := qFor(ty)
					x := in(b, ty, []int32{2, 7, 6, 3}, q)
					oh, ow := builder.OutputSize(7, 3, 2, 1, pad), builder.OutputSize(6, 3, 2, 1, pad)
					y := act(b, "output", ty, []int32{2, int32(oh), int32(ow), 3}, q)
					b.AddOperator(code, []builder.Tensor{x}, []builder.Tensor{y},
						builder.Options(schema.BuiltinOptionsPool2DOptions, &schema.Pool2DOptionsT{Padding: pad, StrideH: 2, StrideW: 2, FilterHeight: 3, FilterWidth: 3}))
					b.Output(y)
				}})
			}
		}
	}
	for _, beta := range []float32{1, 0.4} {
		cs = append(cs, opCase{name: "softmax_float32_beta" + strconv.FormatFloat(float64(beta), 'g', -1, 32), build: func(b *builder.Builder) {
			x := in(b, f32t, []int32{3, 11}, nil)
			y := act(b, "output", f32t, []int32{3, 11}, nil)
			b.AddOperator(schema.BuiltinOperatorSOFTMAX, []builder.Tensor{x}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsSoftmaxOptions, &schema.SoftmaxOptionsT{Beta: beta}))
			b.Output(y)
		}})
	}
	for _, ty := range []schema.TensorType{f32t, i16} {
		for _, alpha := range []float32{0.2, -0.5} {
			cs = append(cs, opCase{name: "leaky_relu_alpha" + strconv.FormatFloat(float64(alpha), 'g', -1, 32) + "_" + typeName(ty), build: func(b *builder.Builder) {
				var qi, qo *tq
				if ty == i16 {
					qi, qo = &tq{0.0005, 0}, &tq{0.0004, 0}
				}
				x := in(b, ty, []int32{2, 300}, qi)
				y := act(b, "output", ty, []int32{2, 300}, qo)
				b.AddOperator(schema.BuiltinOperatorLEAKY_RELU, []builder.Tensor{x}, []builder.Tensor{y},
					builder.Options(schema.BuiltinOptionsLeakyReluOptions, &schema.LeakyReluOptionsT{Alpha: alpha}))
				b.Output(y)
			}})
		}
	}
	cs = append(cs, opCase{name: "hard_swish_float32", build: func(b *builder.Builder) {
		x := in(b, f32t, []int32{2, 300}, nil)
		y := act(b, "output", f32t, []int32{2, 300}, nil)
		b.AddOperator(schema.BuiltinOperatorHARD_SWISH, []builder.Tensor{x}, []builder.Tensor{y}, nil)
		b.Output(y)
	}})
	for _, ty := range []schema.TensorType{f32t, i16} {
		for _, code := range []schema.BuiltinOperator{schema.BuiltinOperatorRELU, schema.BuiltinOperatorRELU6} {
			cs = append(cs, opCase{name: strings.ToLower(schema.EnumNamesBuiltinOperator[code]) + "_" + typeName(ty), build: func(b *builder.Builder) {
				var qi, qo *tq
				if ty == i16 {
					qi, qo = &tq{0.0005, 0}, &tq{0.0003, 0}
				}
				x := in(b, ty, []int32{2, 300}, qi)
				y := act(b, "output", ty, []int32{2, 300}, qo)
				b.AddOperator(code, []builder.Tensor{x}, []builder.Tensor{y}, nil)
				b.Output(y)
			}})
		}
	}
	return cs
}

func moreCases() []opCase {
	var cs []opCase
	f32t, i32t := schema.TensorTypeFLOAT32, schema.TensorTypeINT32
	halves := func(i int, info TensorInfo, rng *rand.Rand) []byte {
		d := make([]byte, info.Bytes)
		for j := 0; j < len(d); j += 4 {
			v := float32(rng.IntN(41)-20) / 2 // many exact halves
			if j%8 == 0 {
				v = float32(rng.Float64()*60 - 30)
			}
			binary.LittleEndian.PutUint32(d[j:], math.Float32bits(v))
		}
		return d
	}
	positive := func(i int, info TensorInfo, rng *rand.Rand) []byte {
		return floatBytes(rng, info.Bytes/4, 0, 50)
	}
	for _, u := range []struct {
		code schema.BuiltinOperator
		gen  func(int, TensorInfo, *rand.Rand) []byte
	}{{schema.BuiltinOperatorSQRT, positive}, {schema.BuiltinOperatorLOG, positive}, {schema.BuiltinOperatorSQUARE, nil},
		{schema.BuiltinOperatorFLOOR, halves}, {schema.BuiltinOperatorCEIL, halves}, {schema.BuiltinOperatorROUND, halves}} {
		cs = append(cs, opCase{name: strings.ToLower(schema.EnumNamesBuiltinOperator[u.code]) + "_float32", gen: u.gen, build: func(b *builder.Builder) {
			x := in(b, f32t, []int32{2, 200}, nil)
			y := act(b, "output", f32t, []int32{2, 200}, nil)
			b.AddOperator(u.code, []builder.Tensor{x}, []builder.Tensor{y}, nil)
			b.Output(y)
		}})
	}
	nonzero := func(i int, info TensorInfo, rng *rand.Rand) []byte {
		d := make([]byte, info.Bytes)
		for j := 0; j < len(d); j += 4 {
			v := int32(rng.IntN(20001) - 10000)
			if i == 1 && v == 0 {
				v = 7
			}
			binary.LittleEndian.PutUint32(d[j:], uint32(v))
		}
		return d
	}
	for _, ty := range []schema.TensorType{f32t, i32t} {
		for _, a := range []schema.ActivationFunctionType{schema.ActivationFunctionTypeNONE, schema.ActivationFunctionTypeRELU6} {
			c := opCase{name: "div_bcast_" + typeName(ty) + "_" + strings.ToLower(schema.EnumNamesActivationFunctionType[a]), build: func(b *builder.Builder) {
				x := in(b, ty, []int32{2, 3, 4}, nil)
				y := in(b, ty, []int32{3, 1}, nil)
				z := act(b, "output", ty, []int32{2, 3, 4}, nil)
				b.AddOperator(schema.BuiltinOperatorDIV, []builder.Tensor{x, y}, []builder.Tensor{z},
					builder.Options(schema.BuiltinOptionsDivOptions, &schema.DivOptionsT{FusedActivationFunction: a}))
				b.Output(z)
			}}
			if ty == i32t {
				c.gen = nonzero
			}
			cs = append(cs, c)
		}
	}
	for _, code := range []schema.BuiltinOperator{schema.BuiltinOperatorEQUAL, schema.BuiltinOperatorNOT_EQUAL, schema.BuiltinOperatorLESS,
		schema.BuiltinOperatorLESS_EQUAL, schema.BuiltinOperatorGREATER, schema.BuiltinOperatorGREATER_EQUAL} {
		for _, ty := range []schema.TensorType{schema.TensorTypeINT8, i32t, f32t} {
			name := strings.ToLower(schema.EnumNamesBuiltinOperator[code]) + "_" + typeName(ty)
			// Narrow value ranges so that equal values occur.
			gen := func(i int, info TensorInfo, rng *rand.Rand) []byte {
				d := make([]byte, info.Bytes)
				switch info.Type {
				case schema.TensorTypeINT8:
					for j := range d {
						d[j] = byte(int8(rng.IntN(11) - 5))
					}
				case i32t:
					for j := 0; j < len(d); j += 4 {
						binary.LittleEndian.PutUint32(d[j:], uint32(int32(rng.IntN(7)-3)))
					}
				default:
					for j := 0; j < len(d); j += 4 {
						binary.LittleEndian.PutUint32(d[j:], math.Float32bits(float32(rng.IntN(7)-3)/2))
					}
				}
				return d
			}
			cs = append(cs, opCase{name: name, gen: gen, build: func(b *builder.Builder) {
				var qa, qb *tq
				if ty == schema.TensorTypeINT8 {
					qa, qb = &tq{0.1, 1}, &tq{0.2, -1}
				}
				x := in(b, ty, []int32{2, 3, 4}, qa)
				y := in(b, ty, []int32{3, 1}, qb)
				z := act(b, "output", schema.TensorTypeBOOL, []int32{2, 3, 4}, nil)
				b.AddOperator(code, []builder.Tensor{x, y}, []builder.Tensor{z}, nil)
				b.Output(z)
			}})
		}
	}
	for _, code := range []schema.BuiltinOperator{schema.BuiltinOperatorLOGICAL_AND, schema.BuiltinOperatorLOGICAL_OR} {
		cs = append(cs, opCase{name: strings.ToLower(schema.EnumNamesBuiltinOperator[code]), gen: func(i int, info TensorInfo, rng *rand.Rand) []byte {
			return boolGen(i)(i, info, rng)
		}, build: func(b *builder.Builder) {
			x := in(b, schema.TensorTypeBOOL, []int32{2, 3, 4}, nil)
			y := in(b, schema.TensorTypeBOOL, []int32{4}, nil)
			z := act(b, "output", schema.TensorTypeBOOL, []int32{2, 3, 4}, nil)
			b.AddOperator(code, []builder.Tensor{x, y}, []builder.Tensor{z}, nil)
			b.Output(z)
		}})
	}
	cs = append(cs, opCase{name: "logical_not", gen: boolGen(0), build: func(b *builder.Builder) {
		x := in(b, schema.TensorTypeBOOL, []int32{3, 7}, nil)
		z := act(b, "output", schema.TensorTypeBOOL, []int32{3, 7}, nil)
		b.AddOperator(schema.BuiltinOperatorLOGICAL_NOT, []builder.Tensor{x}, []builder.Tensor{z}, nil)
		b.Output(z)
	}})
	for _, ty := range []schema.TensorType{schema.TensorTypeINT8, f32t} {
		cs = append(cs, opCase{name: "gather_nd_" + typeName(ty), gen: func(i int, info TensorInfo, rng *rand.Rand) []byte {
			if i != 1 {
				return nil
			}
			d := make([]byte, info.Bytes)
			for j := 0; j < len(d); j += 8 { // pairs (row < 4, column < 5)
				binary.LittleEndian.PutUint32(d[j:], uint32(rng.IntN(4)))
				binary.LittleEndian.PutUint32(d[j+4:], uint32(rng.IntN(5)))
			}
			return d
		}, build: func(b *builder.Builder) {
			x := in(b, ty, []int32{4, 5, 3}, qFor(ty))
			idx := act(b, "indices", i32t, []int32{2, 3, 2}, nil)
			b.MarkInput(idx)
			y := act(b, "output", ty, []int32{2, 3, 3}, qFor(ty))
			b.AddOperator(schema.BuiltinOperatorGATHER_ND, []builder.Tensor{x, idx}, []builder.Tensor{y}, nil)
			b.Output(y)
		}})
	}
	for _, ty := range []schema.TensorType{schema.TensorTypeINT8, f32t} {
		for _, zp := range []int64{0, -9} {
			if ty == f32t && zp != 0 {
				continue
			}
			cs = append(cs, opCase{name: "add_n_" + typeName(ty) + "_zp" + fmtInt(int(zp)), build: func(b *builder.Builder) {
				var qi, qo *tq
				if ty == schema.TensorTypeINT8 {
					qi, qo = &tq{0.05, zp}, &tq{0.11, 4}
				}
				x0, x1, x2 := in(b, ty, []int32{3, 11}, qi), in(b, ty, []int32{3, 11}, qi), in(b, ty, []int32{3, 11}, qi)
				y := act(b, "output", ty, []int32{3, 11}, qo)
				b.AddOperator(schema.BuiltinOperatorADD_N, []builder.Tensor{x0, x1, x2}, []builder.Tensor{y}, nil)
				b.Output(y)
			}})
		}
	}
	for _, a := range []schema.ActivationFunctionType{schema.ActivationFunctionTypeNONE, schema.ActivationFunctionTypeRELU} {
		cs = append(cs, opCase{name: "div_bcast_int8_" + strings.ToLower(schema.EnumNamesActivationFunctionType[a]), gen: func(i int, info TensorInfo, rng *rand.Rand) []byte {
			if i != 1 {
				return nil
			}
			d := make([]byte, info.Bytes)
			for j := range d {
				v := int8(rng.IntN(256) - 128)
				if v == 3 { // the divisor's zero point
					v = 4
				}
				d[j] = byte(v)
			}
			return d
		}, build: func(b *builder.Builder) {
			x := in(b, schema.TensorTypeINT8, []int32{2, 3, 4}, &tq{0.05, -2})
			y := in(b, schema.TensorTypeINT8, []int32{3, 1}, &tq{0.02, 3})
			z := act(b, "output", schema.TensorTypeINT8, []int32{2, 3, 4}, &tq{0.2, 1})
			b.AddOperator(schema.BuiltinOperatorDIV, []builder.Tensor{x, y}, []builder.Tensor{z},
				builder.Options(schema.BuiltinOptionsDivOptions, &schema.DivOptionsT{FusedActivationFunction: a}))
			b.Output(z)
		}})
	}
	for _, ty := range []schema.TensorType{schema.TensorTypeINT8, f32t, i32t} {
		cs = append(cs, opCase{name: "fill_" + typeName(ty), gen: smallInt32Gen, build: func(b *builder.Builder) {
			dims := constI32(b, "dims", []int32{3}, 2, 3, 4)
			v := in(b, ty, []int32{}, qFor(ty))
			y := act(b, "output", ty, []int32{2, 3, 4}, qFor(ty))
			b.AddOperator(schema.BuiltinOperatorFILL, []builder.Tensor{dims, v}, []builder.Tensor{y}, nil)
			b.Output(y)
		}})
	}
	cs = append(cs, opCase{name: "zeros_like_int8", build: func(b *builder.Builder) {
		x := in(b, schema.TensorTypeINT8, []int32{3, 5}, q8)
		y := act(b, "output", schema.TensorTypeINT8, []int32{3, 5}, q8)
		b.AddOperator(schema.BuiltinOperatorZEROS_LIKE, []builder.Tensor{x}, []builder.Tensor{y}, nil)
		b.Output(y)
	}})
	for _, axes := range [][]int32{{1}, {2, 1}, {0}} {
		name := "reverse_v2_axes"
		for _, a := range axes {
			name += fmtInt(int(a))
		}
		cs = append(cs, opCase{name: name + "_int8", build: func(b *builder.Builder) {
			x := in(b, schema.TensorTypeINT8, []int32{2, 3, 4, 2}, q8)
			ax := constI32(b, "axes", []int32{int32(len(axes))}, axes...)
			y := act(b, "output", schema.TensorTypeINT8, []int32{2, 3, 4, 2}, q8)
			b.AddOperator(schema.BuiltinOperatorREVERSE_V2, []builder.Tensor{x, ax}, []builder.Tensor{y},
				builder.Options(schema.BuiltinOptionsReverseV2Options, &schema.ReverseV2OptionsT{}))
			b.Output(y)
		}})
	}
	return cs
}
