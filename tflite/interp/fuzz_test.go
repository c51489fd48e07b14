package interp

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// FuzzNew feeds mutated models to New and Invoke: a model either prepares or is refused
// with an error, and a prepared one runs on zero inputs (or returns an error) without
// panicking. Seeds: the per-operator golden models in testdata/ops.
func FuzzNew(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(opDir, "*.tflite"))
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := tflite.Parse(data, "fuzz.tflite")
		if err != nil {
			return
		}
		if _, err := Unsupported(m); err != nil {
			return
		}
		it, err := New(m, WithThreads(1))
		if err != nil {
			return
		}
		var ins [][]byte
		for _, in := range it.Inputs() {
			if in.Bytes > 1<<24 {
				return
			}
			ins = append(ins, make([]byte, in.Bytes))
		}
		_, _ = it.Invoke(ins...)
	})
}

// FuzzNewMutated mutates the structure of the per-operator models (tensor shapes, types,
// quantization, operator inputs and option fields) under control of the fuzz bytes, then
// requires New and Invoke to refuse or run without panicking: the checks of every
// operator's preparation are exercised with values real files could hold.
func FuzzNewMutated(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(opDir, "*.tflite"))
	var models [][]byte
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			models = append(models, data)
		}
	}
	if len(models) == 0 {
		f.Skip("no models in " + opDir)
	}
	for i := range models {
		f.Add(uint16(i), []byte{0, 1, 2, 3})
	}
	f.Fuzz(func(t *testing.T, pick uint16, muts []byte) {
		m, err := tflite.Parse(models[int(pick)%len(models)], "seed.tflite")
		if err != nil {
			t.Fatal(err)
		}
		sg := m.Subgraphs[0]
		for i := 0; i+2 < len(muts); i += 3 {
			what, a, v := muts[i]%6, int(muts[i+1]), muts[i+2]
			switch what {
			case 0: // a shape dimension
				tt := sg.Tensors[a%len(sg.Tensors)]
				if len(tt.Shape) > 0 {
					tt.Shape[int(v)%len(tt.Shape)] = int32(int8(v)) % 9
				}
			case 1: // a tensor type
				sg.Tensors[a%len(sg.Tensors)].Type = schema.TensorType(v % 18)
			case 2: // quantization
				if q := sg.Tensors[a%len(sg.Tensors)].Quantization; q != nil && len(q.Scale) > 0 {
					q.Scale[0] = float32(int8(v)) / 16
					q.ZeroPoint[0] = int64(int8(v))
				}
			case 3: // an operator input
				op := sg.Operators[a%len(sg.Operators)]
				if len(op.Inputs) > 0 {
					op.Inputs[int(v)%len(op.Inputs)] = int32(v)%int32(len(sg.Tensors)+1) - 1
				}
			case 4, 5: // an option field
				op := sg.Operators[a%len(sg.Operators)]
				if op.BuiltinOptions != nil && op.BuiltinOptions.Value != nil {
					mutateField(op.BuiltinOptions.Value, int(v)>>4, int8(v<<4)>>4)
				}
			}
		}
		if _, err := Unsupported(m); err != nil {
			return
		}
		it, err := New(m, WithThreads(1))
		if err != nil {
			return
		}
		var ins [][]byte
		for _, in := range it.Inputs() {
			if in.Bytes > 1<<22 {
				return
			}
			ins = append(ins, make([]byte, in.Bytes))
		}
		_, _ = it.Invoke(ins...)
	})
}

// mutateField sets the n-th integer, boolean or float field of an options struct to v.
func mutateField(opts any, n int, v int8) {
	rv := reflect.ValueOf(opts)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return
	}
	s := rv.Elem()
	var fields []reflect.Value
	for i := range s.NumField() {
		switch f := s.Field(i); f.Kind() {
		case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Bool, reflect.Float32:
			if f.CanSet() {
				fields = append(fields, f)
			}
		}
	}
	if len(fields) == 0 {
		return
	}
	f := fields[n%len(fields)]
	switch f.Kind() {
	case reflect.Bool:
		f.SetBool(v&1 == 1)
	case reflect.Float32:
		f.SetFloat(float64(v) / 4)
	default:
		f.SetInt(int64(v))
	}
}
