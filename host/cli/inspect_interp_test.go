package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// inspect lists every operator the host interpreter cannot run, with its reason, and none
// for a model it runs completely.
func TestInspectListsInterpreterGaps(t *testing.T) {
	b := builder.New(1)
	q := builder.Quant{Scale: 0.1, ZeroPoint: 0}
	x := b.Input("x", []int32{1, 4, 4, 2}, q)
	size := b.AddTensor(builder.TensorSpec{Name: "size", Type: schema.TensorTypeINT32, Shape: []int32{2}, Data: []byte{8, 0, 0, 0, 8, 0, 0, 0}})
	// op 0: RESIZE_BILINEAR from int8 to int16: refused (types differ).
	y16 := b.AddTensor(builder.TensorSpec{Name: "y16", Type: schema.TensorTypeINT16, Shape: []int32{1, 8, 8, 2}, Scale: []float32{0.001}})
	b.AddOperator(schema.BuiltinOperatorRESIZE_BILINEAR, []builder.Tensor{x, size}, []builder.Tensor{y16},
		builder.Options(schema.BuiltinOptionsResizeBilinearOptions, &schema.ResizeBilinearOptionsT{}))
	// op 1: supported.
	z := b.AddTensor(builder.TensorSpec{Name: "z", Type: schema.TensorTypeINT8, Shape: []int32{1, 8, 8, 2}, Scale: []float32{0.1}, ZeroPoint: []int64{0}})
	b.AddOperator(schema.BuiltinOperatorRESIZE_NEAREST_NEIGHBOR, []builder.Tensor{x, size}, []builder.Tensor{z},
		builder.Options(schema.BuiltinOptionsResizeNearestNeighborOptions, &schema.ResizeNearestNeighborOptionsT{}))
	// op 2: an operator the interpreter does not implement.
	w := b.AddTensor(builder.TensorSpec{Name: "w", Type: schema.TensorTypeINT8, Shape: []int32{1, 8, 8, 2}, Scale: []float32{0.1}, ZeroPoint: []int64{0}})
	b.AddOperator(schema.BuiltinOperatorCUMSUM, []builder.Tensor{z, size}, []builder.Tensor{w}, nil)
	b.Output(y16, w)
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gaps.tflite")
	if err := tflite.Save(path, m); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("inspect", path, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Unsupported []struct {
			Index  int    `json:"index"`
			Op     string `json:"op"`
			Reason string `json:"reason"`
		} `json:"interpreter_unsupported"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Unsupported) != 2 || doc.Unsupported[0].Index != 0 || doc.Unsupported[0].Op != "RESIZE_BILINEAR" ||
		!strings.Contains(doc.Unsupported[0].Reason, "INT8") || doc.Unsupported[1].Index != 2 || doc.Unsupported[1].Op != "CUMSUM" ||
		doc.Unsupported[1].Reason != "not supported by the interpreter" {
		t.Errorf("interpreter_unsupported = %+v", doc.Unsupported)
	}
	code, out, errOut = runCLI("inspect", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "cannot run 2 operator(s):") || !strings.Contains(out, "op 2 (CUMSUM): not supported by the interpreter") {
		t.Errorf("table does not list the gaps:\n%s", out)
	}
	code, out, _ = runCLI("inspect", "builtin:mobilenetv2-demo")
	if code != 0 || !strings.Contains(out, "host interpreter (run, eval, calibration): runs every operator") {
		t.Errorf("builtin model: exit %d, output:\n%s", code, out)
	}
}
