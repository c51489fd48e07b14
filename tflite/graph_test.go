package tflite_test

import (
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// chain builds x -> conv -> conv -> conv, three operators on same-shaped tensors.
func chain(t *testing.T) *schema.ModelT {
	t.Helper()
	b := builder.New(1)
	x := b.Input("x", []int32{1, 8, 8, 4}, builder.Quant{Scale: 0.05})
	for range 3 {
		x = b.Conv2D(x, builder.Conv{OutChannels: 4, Kernel: 3, Padding: schema.PaddingSAME})
	}
	b.Output(x)
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Issue 10: inspect accepted models whose operators form a cycle, which run and optimize
// refuse; the check now belongs to loading, so every command refuses them alike.
func TestValidateRefusesCycles(t *testing.T) {
	m := chain(t)
	if err := tflite.Validate(m); err != nil {
		t.Fatalf("valid chain: %v", err)
	}
	sg := m.Subgraphs[0]
	sg.Operators[1].Inputs[0] = sg.Operators[2].Outputs[0] // op 1 reads op 2's output
	err := tflite.Validate(m)
	want := `subgraph 0, operator 1, tensor ` // then the tensor's name
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "read before operator 2 writes it (the operators form a cycle") {
		t.Errorf("cycle: %v", err)
	}
	if _, err := tflite.Serialize(m); err == nil {
		t.Error("a cyclic model serialized")
	}
}

// Issue 10: a tensor of rank 200,000 made 400 KB error lines; such ranks are refused and
// shapes in messages are cut after 8 dimensions.
func TestAbsurdRankIsRefusedInOneShortLine(t *testing.T) {
	m := chain(t)
	sg := m.Subgraphs[0]
	y := sg.Tensors[sg.Operators[0].Outputs[0]]
	y.Shape = make([]int32, 200000)
	for i := range y.Shape {
		y.Shape[i] = 1
	}
	err := tflite.Validate(m)
	if err == nil || !strings.Contains(err.Error(), "rank 200000 is more than 16") || len(err.Error()) > 200 {
		t.Errorf("rank 200000: %.300v", err)
	}
	if got := tflite.FormatShape(y.Shape); got != "[1,1,1,1,1,1,1,1,... 199992 more]" {
		t.Errorf("FormatShape = %.100s", got)
	}
	if got := tflite.FormatShape([]int32{1, 96, 96, 3}); got != "[1,96,96,3]" {
		t.Errorf("FormatShape = %s", got)
	}
}
