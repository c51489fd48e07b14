package tflite_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
)

// sharedModels returns the real models in ../shared/data/models, skipping the test if absent.
func sharedModels(t *testing.T, sub string) []string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "data", "models", sub)
	files, _ := filepath.Glob(filepath.Join(dir, "*.tflite"))
	if len(files) == 0 {
		t.Skipf("no models in %s (shared test data absent)", dir)
	}
	return files
}

func TestRoundTripRealModels(t *testing.T) {
	for _, path := range sharedModels(t, "") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			m1, err := tflite.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			b1, err := tflite.Serialize(m1)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "m.tflite")
			if err := tflite.Save(out, m1); err != nil {
				t.Fatal(err)
			}
			b2, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b1, b2) {
				t.Fatal("saving twice gave different bytes")
			}
			m2, err := tflite.Parse(b2, out)
			if err != nil {
				t.Fatalf("reloading saved model: %v", err)
			}
			if !reflect.DeepEqual(m1, m2) {
				t.Fatal("Load -> Save -> Load changed the object tree")
			}
			b3, err := tflite.Serialize(m2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b1, b3) {
				t.Fatal("second generation serializes differently")
			}
		})
	}
}
