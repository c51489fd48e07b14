package cli

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/quantmcu/quantmcu/tflite/atomicfile"
	"github.com/quantmcu/quantmcu/tflite/carray"
)

func exportCCommand() *Command {
	var outDir, name string
	return &Command{
		Name:    "export-c",
		Summary: "write a model as a C array (<name>_quantmcu_model.cc/.h) for firmware builds",
		Usage:   "export-c MODEL [-o DIR] [--name NAME]",
		Help: `Writes MODEL's bytes, unchanged, as C++ source the way TFLM's examples embed models:
DIR/<name>_quantmcu_model.cc defines a 16-byte aligned array and its length, and
DIR/<name>_quantmcu_model.h declares them (with C linkage, so C code can include it):

  extern const unsigned char g_<name>_quantmcu_model_data[];
  extern const unsigned int g_<name>_quantmcu_model_data_size;
  #define <NAME>_QUANTMCU_MODEL_DATA_SIZE <bytes>u

NAME defaults to MODEL's file name without .tflite and without a trailing _quantmcu, so
'quantmcu optimize person_detect.tflite -o out/' followed by
'quantmcu export-c out/person_detect_quantmcu.tflite -o out/' writes
out/person_detect_quantmcu_model.cc and .h. Characters other than letters, digits and '_'
in NAME become '_'. The files depend only on the model bytes, NAME and the tool version.
Nothing is written unless the model parses; each file is then replaced atomically.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&outDir, "output-dir", "o", ".", "directory for the .cc and .h files")
			fs.StringVar(&name, "name", "", "base of file and symbol names (default: from MODEL)")
		},
		Run: func(env *Env, _ *pflag.FlagSet, args []string) error {
			if len(args) != 1 {
				return BadInputf("want exactly one MODEL argument, got %d", len(args))
			}
			data, modelName, err := readModel(args[0])
			if err != nil {
				return err
			}
			if name == "" {
				name = strings.TrimSuffix(modelName, strings.TrimSuffix(OutputSuffix, ".tflite"))
			}
			files, err := carray.Generate(data, carray.Options{
				Name: name,
				From: filepath.Base(args[0]),
				Tool: "quantmcu " + Version,
			})
			if err != nil {
				return BadInputf("name %q: %w", name, err)
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return BadInputf("output dir: %w", err)
			}
			for _, f := range []struct {
				name string
				data []byte
			}{{files.HeaderName, files.Header}, {files.SourceName, files.Source}} {
				p := filepath.Join(outDir, f.name)
				if err := atomicfile.WriteFile(p, f.data, 0o644); err != nil {
					return err
				}
				env.Stdout.Write([]byte("wrote " + p + "\n"))
			}
			return nil
		},
	}
}
