package interp

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
)

// TestHookAndClone checks that the hook sees every operator's outputs in order, that the
// last hooked tensor equals the returned output, and that clones used from several
// goroutines give identical results.
func TestHookAndClone(t *testing.T) {
	m := loadModel(t, "models/person_detect.tflite")
	in, err := os.ReadFile(filepath.Join(sharedData, "inputs/person_96x96x1_int8.raw"))
	if err != nil {
		t.Fatal(err)
	}
	it, err := New(m, WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	var ops []int
	var last []byte
	it.SetHook(func(op int, outs []Tensor) {
		ops = append(ops, op)
		if len(outs) != 1 || outs[0].Info == nil || len(outs[0].Data) != outs[0].Info.Bytes {
			t.Errorf("op %d: bad hook tensors %+v", op, outs)
		}
		last = append(last[:0], outs[0].Data...)
	})
	want, err := it.Invoke(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != len(m.Subgraphs[0].Operators) || ops[0] != 0 || ops[len(ops)-1] != len(ops)-1 {
		t.Errorf("hook saw operators %v", ops)
	}
	if !bytes.Equal(last, want[0]) {
		t.Errorf("last hooked tensor %v differs from output %v", last, want[0])
	}
	if ins := it.Inputs(); len(ins) != 1 || ins[0].Bytes != 96*96 || ins[0].Type != m.Subgraphs[0].Tensors[ins[0].Index].Type {
		t.Errorf("Inputs() = %+v", ins)
	}
	var wg sync.WaitGroup
	for range 4 {
		c := it.Clone()
		wg.Go(func() {
			for range 3 {
				got, err := c.Invoke(in)
				if err != nil || !bytes.Equal(got[0], want[0]) {
					t.Errorf("clone gave %v, %v; want %v", got, err, want[0])
				}
			}
		})
	}
	wg.Wait()
}

// TestHostileModelsDoNotPanic prepares (and if accepted, runs on zero inputs) every model in
// models/negative that the loader accepts.
func TestHostileModelsDoNotPanic(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sharedData, "models/negative/*.tflite"))
	if len(files) == 0 {
		t.Skip("shared data absent")
	}
	for _, f := range files {
		m, err := tflite.Load(f)
		if err != nil {
			continue
		}
		it, err := New(m)
		if err != nil {
			t.Logf("%s: %v", filepath.Base(f), err)
			continue
		}
		var ins [][]byte
		for _, info := range it.Inputs() {
			ins = append(ins, make([]byte, info.Bytes))
		}
		if _, err := it.Invoke(ins...); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}
