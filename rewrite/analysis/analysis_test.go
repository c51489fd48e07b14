package analysis

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/internal/shareddata"
	"github.com/quantmcu/quantmcu/tests/tflmgolden"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// dataDir is ../shared/data relative to the repository root.
const dataDir = "../../../shared/data"

func loadModel(t *testing.T, rel string) *schema.ModelT {
	t.Helper()
	path := filepath.Join(dataDir, rel)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s absent", path)
	}
	m, err := tflite.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func analyze(t *testing.T, rel string) *Report {
	t.Helper()
	r, err := Analyze(loadModel(t, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return r
}

// TestArenaMatchesTFLM compares the planned arena head with the non-persistent arena head
// a real TFLM build reported for every model of golden/tflm/INDEX.tsv (reference kernels).
func TestArenaMatchesTFLM(t *testing.T) {
	cases, err := tflmgolden.Load(dataDir)
	if err != nil {
		t.Skipf("golden index: %v", err)
	}
	heads := tflmgolden.ArenaHeads(cases)
	if len(heads) < 5 {
		t.Fatalf("INDEX.tsv lists %d models, want at least 5", len(heads))
	}
	for _, model := range sortedKeys(heads) {
		want := heads[model]
		t.Run(filepath.Base(model), func(t *testing.T) {
			r := analyze(t, model)
			if r.ArenaBytes != want {
				t.Errorf("arena %d B, TFLM plans %d B", r.ArenaBytes, want)
			}
			if r.ArenaOp < 0 || r.Ops[r.ArenaOp].ArenaTop != r.ArenaBytes {
				t.Errorf("arena op %d does not reach the arena top", r.ArenaOp)
			}
			if r.PeakLiveBytes > r.ArenaBytes {
				t.Errorf("peak live %d B exceeds the arena %d B", r.PeakLiveBytes, r.ArenaBytes)
			}
			if len(r.Warnings) > 0 {
				t.Errorf("warnings: %v", r.Warnings)
			}
		})
	}
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestPeakLive pins the co-live activation sums: VWW's peak pair is 48x48x8 + 48x48x16 int8.
func TestPeakLive(t *testing.T) {
	r := analyze(t, "models/vww_96_int8.tflite")
	if r.PeakLiveBytes != 48*48*8+48*48*16 || r.PeakLiveOp != 2 {
		t.Errorf("peak live %d B at op %d, want %d B at op 2", r.PeakLiveBytes, r.PeakLiveOp, 48*48*8+48*48*16)
	}
	// The 73,728 B arena exceeds that peak: the greedy planner places the 96x96x3 input
	// (27,648 B) and the first 48x48x16 output so that op 0 reaches 73,728 B.
	if r.ArenaBytes <= r.PeakLiveBytes {
		t.Errorf("arena %d B not above peak live %d B", r.ArenaBytes, r.PeakLiveBytes)
	}
}

// layer is an independent description of a network layer for MAC counting.
type layer struct {
	kind       string // conv, dw, pool, fc, none
	oh, ow, oc int
	k          [2]int // kernel height, width
	ic         int    // input channels (conv), input features (fc)
}

func (l layer) macs() int64 {
	out := int64(l.oh * l.ow * l.oc)
	switch l.kind {
	case "conv":
		return out * int64(l.k[0]*l.k[1]*l.ic)
	case "dw", "pool":
		return out * int64(l.k[0]*l.k[1])
	case "fc":
		return out * int64(l.ic)
	}
	return 0
}

// TestMACsPersonDetect checks per-operator MACs against the MobileNetV1-0.25 architecture of
// person_detect written out by hand: 3x3 stride-2 depthwise stem (multiplier 8), 13
// depthwise/pointwise pairs, 3x3 average pool, 1x1 conv to 2 classes.
func TestMACsPersonDetect(t *testing.T) {
	k3, k1 := [2]int{3, 3}, [2]int{1, 1}
	net := []layer{
		{"dw", 48, 48, 8, k3, 0},
		{"dw", 48, 48, 8, k3, 0}, {"conv", 48, 48, 16, k1, 8},
		{"dw", 24, 24, 16, k3, 0}, {"conv", 24, 24, 32, k1, 16},
		{"dw", 24, 24, 32, k3, 0}, {"conv", 24, 24, 32, k1, 32},
		{"dw", 12, 12, 32, k3, 0}, {"conv", 12, 12, 64, k1, 32},
		{"dw", 12, 12, 64, k3, 0}, {"conv", 12, 12, 64, k1, 64},
		{"dw", 6, 6, 64, k3, 0}, {"conv", 6, 6, 128, k1, 64},
	}
	for range 5 {
		net = append(net, layer{"dw", 6, 6, 128, k3, 0}, layer{"conv", 6, 6, 128, k1, 128})
	}
	net = append(net,
		layer{"dw", 3, 3, 128, k3, 0}, layer{"conv", 3, 3, 256, k1, 128},
		layer{"dw", 3, 3, 256, k3, 0}, layer{"conv", 3, 3, 256, k1, 256},
		layer{"pool", 1, 1, 256, k3, 0}, layer{"conv", 1, 1, 2, k1, 256},
		layer{kind: "none"}, layer{kind: "none"}, // RESHAPE, SOFTMAX
	)
	checkMACs(t, analyze(t, "models/person_detect.tflite"), net, 7_160_192)
}

// TestMACsKWS does the same for the DS-CNN keyword spotter: a 10x4 stride-2 conv, four
// depthwise/pointwise pairs at 25x5x64, average pool over 25x5, FC 64->12.
func TestMACsKWS(t *testing.T) {
	net := []layer{{"conv", 25, 5, 64, [2]int{10, 4}, 1}}
	for range 4 {
		net = append(net, layer{"dw", 25, 5, 64, [2]int{3, 3}, 0}, layer{"conv", 25, 5, 64, [2]int{1, 1}, 64})
	}
	net = append(net, layer{"pool", 1, 1, 64, [2]int{25, 5}, 0}, layer{kind: "none"},
		layer{"fc", 1, 1, 12, [2]int{}, 64}, layer{kind: "none"})
	checkMACs(t, analyze(t, "models/kws_ref_model.tflite"), net, 2_664_768)
}

func checkMACs(t *testing.T, r *Report, net []layer, total int64) {
	t.Helper()
	if len(r.Ops) != len(net) {
		t.Fatalf("model has %d operators, hand description %d", len(r.Ops), len(net))
	}
	var sum int64
	for i, l := range net {
		sum += l.macs()
		if r.Ops[i].MACs != l.macs() {
			t.Errorf("op %d %s: %d MACs, by hand %d", i, r.Ops[i].Name, r.Ops[i].MACs, l.macs())
		}
	}
	if sum != total || r.MACs != total {
		t.Errorf("total MACs %d, by hand %d, expected %d", r.MACs, sum, total)
	}
}

// TestWeightBytes: the KWS model's constant operands are int8 filters, int32 biases and the
// RESHAPE shape; their bytes add up to the sum over operators (no buffer is shared).
func TestWeightBytes(t *testing.T) {
	r := analyze(t, "models/kws_ref_model.tflite")
	var perOp int64
	for _, op := range r.Ops {
		perOp += op.WeightBytes
	}
	if r.WeightBytes != perOp || r.WeightBytes != 24376 {
		t.Errorf("weight bytes %d, per-op sum %d, want 24376", r.WeightBytes, perOp)
	}
	// First conv: 64x10x4x1 int8 filter + 64 int32 biases.
	if got := r.Ops[0].WeightBytes; got != 64*10*4+64*4 {
		t.Errorf("op 0 weight bytes %d, want %d", got, 64*10*4+64*4)
	}
	if r.Inputs[0].Quant == nil || r.Inputs[0].Quant.ZeroPoint != 83 || r.Inputs[0].Type != "INT8" {
		t.Errorf("input quantization %+v", r.Inputs[0].Quant)
	}
}

// TestScratchMEAN: TFLM's reference MEAN asks for an int32 accumulator per output element
// plus two small index tables; MobileNetV2's MEAN has 1280 outputs.
func TestScratchMEAN(t *testing.T) {
	r := analyze(t, "models/mobilenet_v2_quantized_1x3x224x224.tflite")
	found := false
	for _, op := range r.Ops {
		if op.Name == "MEAN" {
			found = true
			if op.ScratchBytes != 1280*4+4*4+2*4 {
				t.Errorf("MEAN scratch %d B, want %d", op.ScratchBytes, 1280*4+4*4+2*4)
			}
		} else if op.ScratchBytes != 0 {
			t.Errorf("op %d %s requests %d B scratch, reference kernel requests none", op.Index, op.Name, op.ScratchBytes)
		}
	}
	if !found {
		t.Fatal("no MEAN operator")
	}
}

// Hand-built model: X -conv-> A -conv-> B; ADD(A, B) -> C; RESHAPE C -> D (output).
// Activation sizes 16, 40, 40, 40, 40 bytes (aligned: 16, 48, 48, 48, 48).
func handModel(dangling bool) *schema.ModelT {
	q := &schema.QuantizationParametersT{Scale: []float32{0.5}, ZeroPoint: []int64{-3}}
	tensors := []*schema.TensorT{
		{Name: "x", Shape: []int32{1, 4, 4, 1}, Type: schema.TensorTypeINT8, Quantization: q},
		{Name: "w", Shape: []int32{2, 1, 1, 1}, Type: schema.TensorTypeINT8, Buffer: 1},
		{Name: "a", Shape: []int32{1, 5, 4, 2}, Type: schema.TensorTypeINT8},
		{Name: "b", Shape: []int32{1, 5, 4, 2}, Type: schema.TensorTypeINT8},
		{Name: "c", Shape: []int32{1, 5, 4, 2}, Type: schema.TensorTypeINT8},
		{Name: "d", Shape: []int32{1, 40}, Type: schema.TensorTypeINT8},
		{Name: "state", Shape: []int32{1, 64}, Type: schema.TensorTypeINT8, IsVariable: true},
		{Name: "w2", Shape: []int32{2, 1, 1, 2}, Type: schema.TensorTypeINT8, Buffer: 2},
	}
	if dangling {
		tensors = append(tensors, &schema.TensorT{Name: "dangling", Shape: []int32{200}, Type: schema.TensorTypeINT8})
	}
	conv := &schema.BuiltinOptionsT{Type: schema.BuiltinOptionsConv2DOptions, Value: &schema.Conv2DOptionsT{StrideH: 1, StrideW: 1}}
	return &schema.ModelT{
		Version: 3,
		OperatorCodes: []*schema.OperatorCodeT{
			{BuiltinCode: schema.BuiltinOperatorCONV_2D, DeprecatedBuiltinCode: int8(schema.BuiltinOperatorCONV_2D), Version: 1},
			{BuiltinCode: schema.BuiltinOperatorADD, Version: 1},
			{BuiltinCode: schema.BuiltinOperatorRESHAPE, DeprecatedBuiltinCode: int8(schema.BuiltinOperatorRESHAPE), Version: 1},
		},
		Buffers: []*schema.BufferT{{}, {Data: []byte{1, 2}}, {Data: []byte{1, 2, 3, 4}}},
		Subgraphs: []*schema.SubGraphT{{
			Tensors: tensors,
			Inputs:  []int32{0},
			Outputs: []int32{5},
			Operators: []*schema.OperatorT{
				{OpcodeIndex: 0, Inputs: []int32{0, 1, -1}, Outputs: []int32{2}, BuiltinOptions: conv},
				{OpcodeIndex: 0, Inputs: []int32{2, 7, -1}, Outputs: []int32{3}, BuiltinOptions: conv},
				{OpcodeIndex: 1, Inputs: []int32{2, 3}, Outputs: []int32{4}},
				{OpcodeIndex: 2, Inputs: []int32{4}, Outputs: []int32{5}},
			},
		}},
	}
}

func TestHandBuiltLifetimes(t *testing.T) {
	r, err := Analyze(handModel(false))
	if err != nil {
		t.Fatal(err)
	}
	type life struct{ first, last int }
	want := map[string]life{"x": {0, 0}, "a": {0, 2}, "b": {1, 2}, "c": {2, 3}, "d": {3, 3},
		"w": {-1, -1}, "state": {-1, -1}, "w2": {-1, -1}}
	for _, ti := range r.Tensors {
		if w := want[ti.Name]; ti.FirstOp != w.first || ti.LastOp != w.last {
			t.Errorf("tensor %s lives ops %d..%d, want %d..%d", ti.Name, ti.FirstOp, ti.LastOp, w.first, w.last)
		}
	}
	wantLive := []int64{16 + 40, 40 + 40, 40 + 40 + 40, 40 + 40}
	for i, op := range r.Ops {
		if op.LiveBytes != wantLive[i] {
			t.Errorf("op %d live %d B (tensors %v), want %d", i, op.LiveBytes, op.Live, wantLive[i])
		}
	}
	if r.PeakLiveBytes != 120 || r.PeakLiveOp != 2 {
		t.Errorf("peak live %d at op %d, want 120 at op 2", r.PeakLiveBytes, r.PeakLiveOp)
	}
	// Greedy placement, largest first and, among the equal 48-byte buffers, the last added
	// first: d@0, c@48 (meets d), b@0 (fits below c), a@96 (meets b and c), x@0 (below a).
	wantOff := map[string]int64{"x": 0, "a": 96, "b": 0, "c": 48, "d": 0, "w": -1, "state": -1, "w2": -1}
	for _, ti := range r.Tensors {
		if ti.Offset != wantOff[ti.Name] {
			t.Errorf("tensor %s at offset %d, want %d", ti.Name, ti.Offset, wantOff[ti.Name])
		}
	}
	if r.ArenaBytes != 144 || r.ArenaOp != 2 {
		t.Errorf("arena %d B set at op %d, want 144 at op 2", r.ArenaBytes, r.ArenaOp)
	}
	if r.MACs != 40*1+40*2+40 || r.WeightBytes != 6 || r.Params != 6 {
		t.Errorf("MACs %d weight bytes %d params %d, want 160, 6, 6", r.MACs, r.WeightBytes, r.Params)
	}
	if in, out := r.Inputs[0], r.Outputs[0]; in.FirstOp != 0 || in.LastOp != 0 || out.FirstOp != 3 || out.LastOp != 3 {
		t.Errorf("input lives ops %d..%d, output %d..%d; want 0..0 and 3..3", in.FirstOp, in.LastOp, out.FirstOp, out.LastOp)
	}
	if q := r.Inputs[0].Quant; q == nil || q.Scale != 0.5 || q.ZeroPoint != -3 || q.Channels != 1 {
		t.Errorf("input quantization %+v", q)
	}
}

// A tensor no operator touches still gets an arena buffer in TFLM (lifetime -1..-1, overlapping
// only other such buffers): the 200-byte dangling tensor raises the arena to 208 B although no
// operator ever uses it.
func TestDanglingTensorIsPlanned(t *testing.T) {
	r, err := Analyze(handModel(true))
	if err != nil {
		t.Fatal(err)
	}
	if r.ArenaBytes != 208 || r.ArenaOp != -1 || r.PeakLiveBytes != 120 {
		t.Errorf("arena %d at op %d, peak live %d; want 208 at -1, 120", r.ArenaBytes, r.ArenaOp, r.PeakLiveBytes)
	}
}

func TestCustomOpIsFlaggedNotFatal(t *testing.T) {
	m := handModel(false)
	m.OperatorCodes = append(m.OperatorCodes, &schema.OperatorCodeT{BuiltinCode: schema.BuiltinOperatorCUSTOM, DeprecatedBuiltinCode: int8(schema.BuiltinOperatorCUSTOM), CustomCode: "ethos-u"},
		&schema.OperatorCodeT{BuiltinCode: 250})
	m.Subgraphs[0].Operators[1].OpcodeIndex = 3
	m.Subgraphs[0].Operators[2].OpcodeIndex = 4
	r, err := Analyze(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Ops[1].Flag; got != "custom op 'ethos-u': not analysed" || r.Ops[1].MACs != 0 {
		t.Errorf("custom op flag %q, MACs %d", got, r.Ops[1].MACs)
	}
	if got := r.Ops[2].Flag; got != "unknown builtin operator 250: not analysed" {
		t.Errorf("unknown op flag %q", got)
	}
	if r.ArenaBytes != 144 {
		t.Errorf("arena %d, want 144 (operator kinds do not change lifetimes)", r.ArenaBytes)
	}
}

func TestBadIndicesAreErrors(t *testing.T) {
	for name, breakIt := range map[string]func(m *schema.ModelT){
		"input":      func(m *schema.ModelT) { m.Subgraphs[0].Operators[0].Inputs[0] = 99 },
		"output":     func(m *schema.ModelT) { m.Subgraphs[0].Operators[0].Outputs[0] = -1 },
		"opcode":     func(m *schema.ModelT) { m.Subgraphs[0].Operators[0].OpcodeIndex = 9 },
		"graph in":   func(m *schema.ModelT) { m.Subgraphs[0].Inputs[0] = 8 },
		"no graphs":  func(m *schema.ModelT) { m.Subgraphs = nil },
		"neg shape":  func(m *schema.ModelT) { m.Subgraphs[0].Tensors[2].Shape[1] = -5 },
		"nil tensor": func(m *schema.ModelT) { m.Subgraphs[0].Tensors[3] = nil },
	} {
		m := handModel(false)
		breakIt(m)
		if _, err := Analyze(m); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Control flow: a WHILE whose body is the subgraph itself cannot be planned (TFLM would
// recurse forever); it must be an error, not a hang.
func TestRecursiveControlFlowIsAnError(t *testing.T) {
	m := handModel(false)
	m.OperatorCodes = append(m.OperatorCodes, &schema.OperatorCodeT{BuiltinCode: schema.BuiltinOperatorWHILE, DeprecatedBuiltinCode: int8(schema.BuiltinOperatorWHILE)})
	m.Subgraphs[0].Operators[3].OpcodeIndex = 3
	m.Subgraphs[0].Operators[3].BuiltinOptions = &schema.BuiltinOptionsT{Type: schema.BuiltinOptionsWhileOptions, Value: &schema.WhileOptionsT{CondSubgraphIndex: 0, BodySubgraphIndex: 0}}
	if _, err := Analyze(m); err == nil || !strings.Contains(err.Error(), "calls itself") {
		t.Errorf("err = %v", err)
	}
	m.Subgraphs[0].Operators[3].BuiltinOptions.Value = &schema.WhileOptionsT{CondSubgraphIndex: 7, BodySubgraphIndex: 7}
	if _, err := Analyze(m); err == nil {
		t.Error("call of a missing subgraph: no error")
	}
}

// The negative models that Load accepts analyse without error; Vela's model is one custom op
// whose arena offsets come from its OfflineMemoryAllocation metadata.
func TestNegativeModelsLoadAcceptsAnalyse(t *testing.T) {
	for _, name := range []string{"valid_small", "valid_rect", "keyword_scrambled_8bit", "person_detect_vela"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dataDir, "models/negative", name+".tflite")
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s absent", path)
			}
			m, err := tflite.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Analyze(m)
			if err != nil {
				t.Fatal(err)
			}
			if name == "person_detect_vela" {
				if r.Ops[0].Flag != "custom op 'ethos-u': not analysed" {
					t.Errorf("flag %q", r.Ops[0].Flag)
				}
				fixed := 0
				for _, b := range r.Planned {
					if b.Fixed {
						fixed++
					}
				}
				// The only warning: the ethos-u kernel's persistent data is not modelled.
				if fixed == 0 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "ethos-u\")): kernel data not modelled") {
					t.Errorf("%d offline-placed buffers, warnings %v", fixed, r.Warnings)
				}
				// Vela puts everything at offset 0 of its 74,464-byte scratch tensors.
				if r.ArenaBytes != 74464 || r.ArenaOp != 0 {
					t.Errorf("arena %d B at op %d, want 74464 at op 0", r.ArenaBytes, r.ArenaOp)
				}
			}
		})
	}
}

// Every file in models/negative either analyses or is rejected by Load: never a panic.
func TestAllNegativeModelsNoPanic(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(dataDir, "models/negative/*.tflite"))
	if len(files) == 0 {
		t.Skip("models/negative absent")
	}
	for _, f := range files {
		m, err := tflite.Load(f)
		if err != nil {
			continue
		}
		if _, err := Analyze(m); err != nil {
			t.Errorf("%s: Load accepts it but analysis fails: %v", filepath.Base(f), err)
		}
	}
}

func BenchmarkAnalyzeMobileNetV2(b *testing.B) {
	path := filepath.Join(dataDir, "models/mobilenet_v2_quantized_1x3x224x224.tflite")
	m, err := tflite.Load(path)
	if err != nil {
		shareddata.Skip(b, "%s: %v", path, err)
	}
	for b.Loop() {
		if _, err := Analyze(m); err != nil {
			b.Fatal(err)
		}
	}
}

// chainModel is n RESHAPE-like operators in a chain, each tensor 20 bytes (32 aligned).
func chainModel(n int) *schema.ModelT {
	m := &schema.ModelT{
		Version:       3,
		OperatorCodes: []*schema.OperatorCodeT{{BuiltinCode: schema.BuiltinOperatorRELU, DeprecatedBuiltinCode: int8(schema.BuiltinOperatorRELU)}},
		Buffers:       []*schema.BufferT{{}},
		Subgraphs:     []*schema.SubGraphT{{Inputs: []int32{0}, Outputs: []int32{int32(n)}}},
	}
	sg := m.Subgraphs[0]
	for i := 0; i <= n; i++ {
		sg.Tensors = append(sg.Tensors, &schema.TensorT{Shape: []int32{20}, Type: schema.TensorTypeINT8})
	}
	for i := 0; i < n; i++ {
		sg.Operators = append(sg.Operators, &schema.OperatorT{Inputs: []int32{int32(i)}, Outputs: []int32{int32(i + 1)}})
	}
	return m
}

// A long chain needs two buffers at any time: the planner alternates them.
func TestLongChain(t *testing.T) {
	r, err := Analyze(chainModel(10000))
	if err != nil {
		t.Fatal(err)
	}
	if r.ArenaBytes != 64 || r.PeakLiveBytes != 40 || len(r.Ops[5000].Live) != 2 {
		t.Errorf("arena %d, peak live %d, op 5000 live %v; want 64, 40, 2 tensors", r.ArenaBytes, r.PeakLiveBytes, r.Ops[5000].Live)
	}
}

func TestTooManyBuffersIsAnError(t *testing.T) {
	if _, err := Analyze(chainModel(maxPlannedBuffers + 1)); err == nil || !strings.Contains(err.Error(), "arena buffers") {
		t.Errorf("err = %v", err)
	}
}

func BenchmarkAnalyzeChain10k(b *testing.B) {
	m := chainModel(10000)
	for b.Loop() {
		if _, err := Analyze(m); err != nil {
			b.Fatal(err)
		}
	}
}

// Options.Custom describes a custom operator (the patch stage's op): its scratch buffer is
// planned with the operator's lifetime, its MACs counted, and it is no longer flagged.
func TestCustomOpWithScratch(t *testing.T) {
	m := handModel(false)
	m.OperatorCodes = append(m.OperatorCodes, &schema.OperatorCodeT{BuiltinCode: schema.BuiltinOperatorCUSTOM, DeprecatedBuiltinCode: int8(schema.BuiltinOperatorCUSTOM), CustomCode: "QMCU_TEST"})
	m.Subgraphs[0].Operators[1].OpcodeIndex = 3
	r, err := AnalyzeWith(m, Options{Custom: func(code string, _ *schema.SubGraphT, _ *schema.OperatorT) (CustomOp, bool) {
		return CustomOp{MACs: 7, Scratch: []int64{100}}, code == "QMCU_TEST"
	}})
	if err != nil {
		t.Fatal(err)
	}
	op := r.Ops[1]
	if op.Flag != "" || op.MACs != 7 || op.ScratchBytes != 100 || op.LiveBytes != 180 {
		t.Errorf("custom op: flag %q MACs %d scratch %d live %d; want \"\", 7, 100, 180", op.Flag, op.MACs, op.ScratchBytes, op.LiveBytes)
	}
	// Scratch (112 aligned) first @0, d@0, c@48, b@112, a@160, x@0: 208 B, set at op 1.
	if r.ArenaBytes != 208 || r.ArenaOp != 1 || r.Tensors[2].Offset != 160 {
		t.Errorf("arena %d B at op %d, a at %d; want 208 at op 1, a at 160", r.ArenaBytes, r.ArenaOp, r.Tensors[2].Offset)
	}
}
