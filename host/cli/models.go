package cli

import (
	"fmt"
	"strings"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// BuiltinPrefix selects a model the tool builds itself instead of a file:
// builtin:mobilenetv2-demo is the embedded default model.
const BuiltinPrefix = "builtin:"

// DefaultModel is the argument that names the embedded default model.
const DefaultModel = BuiltinPrefix + builder.DefaultModelName

// LoadModel loads a model argument: a .tflite path, or builtin:NAME for an embedded model.
// It returns the model and the base name used for output files ("person_detect").
// Every failure is marked as bad input.
func LoadModel(arg string) (*schema.ModelT, string, error) {
	m, name, _, err := LoadModelWithWarnings(arg)
	return m, name, err
}

// LoadModelWithWarnings is LoadModel that also returns what the reader repaired (see
// tflite.ParseWithWarnings), for commands that show it.
func LoadModelWithWarnings(arg string) (*schema.ModelT, string, []string, error) {
	if name, ok := strings.CutPrefix(arg, BuiltinPrefix); ok {
		if name != builder.DefaultModelName {
			return nil, "", nil, BadInputf("unknown built-in model %q (available: %s)", name, builder.DefaultModelName)
		}
		m, err := builder.MobileNetV2(builder.DemoConfig())
		if err != nil {
			return nil, "", nil, fmt.Errorf("building %s: %w", arg, err)
		}
		return m, name, nil, nil
	}
	m, warnings, err := tflite.LoadWithWarnings(arg)
	if err != nil {
		return nil, "", nil, BadInput(err)
	}
	return m, ModelBaseName(arg), warnings, nil
}

// ModelBaseName is the file name of path without directory and .tflite extension.
func ModelBaseName(path string) string {
	base := path
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	return strings.TrimSuffix(base, ".tflite")
}
