// Package tflite reads, checks and writes TensorFlow Lite model files (.tflite).
//
// Models are held in the FlatBuffers object API tree generated from schema.fbs
// (package schema), so every field a converter wrote survives a Load/Save round trip.
// Load refuses any file that is structurally unsound before callers touch it: the FlatBuffer
// is verified first, then every index, shape, buffer size and quantization array is checked.
package tflite

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/quantmcu/quantmcu/tflite/atomicfile"
	"github.com/quantmcu/quantmcu/tflite/boundedread"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// FileIdentifier is the FlatBuffers file identifier of TFLite models (bytes 4..7 of the file).
const FileIdentifier = "TFL3"

// SchemaVersion is the model format version this package reads and writes.
const SchemaVersion = 3

// maxFileSize bounds what Load reads: FlatBuffers address at most 2 GiB; larger TFLite files
// keep weights after the FlatBuffer (Buffer.offset), which we accept up to this size.
const maxFileSize = 4 << 30

// Load reads and checks the model at path. Errors name the file and the offending
// subgraph/operator/tensor.
func Load(path string) (*schema.ModelT, error) {
	m, _, err := LoadWithWarnings(path)
	return m, err
}

// Parse checks data as a TFLite model and returns its object tree. name is used in error
// messages only (typically the file path). The returned tree may share memory with data
// (buffer contents are not copied); callers must not modify data afterwards.
func Parse(data []byte, name string) (*schema.ModelT, error) {
	m, _, err := ParseWithWarnings(data, name)
	return m, err
}

// LoadWithWarnings is Load that also returns what was repaired while reading (see
// ParseWithWarnings).
func LoadWithWarnings(path string) (*schema.ModelT, []string, error) {
	data, err := ReadFile(path, maxFileSize)
	if err != nil {
		return nil, nil, err
	}
	return ParseWithWarnings(data, path)
}

// ReadFile returns the bytes of the model file at path without checking them, refusing
// more than limit bytes (counted as read: devices and pipes have no size to trust) and,
// after its first bytes, a file whose FlatBuffer root offset no model can have.
func ReadFile(path string, limit int64) ([]byte, error) {
	return boundedread.File(path, limit, "a .tflite model", checkHead)
}

// checkHead refuses a file whose first word, the FlatBuffer root table offset, cannot
// point at a table: it must lie past itself (and the file identifier, if any) and below
// 2 GiB, the most a FlatBuffer addresses. Shorter heads are left to Parse.
func checkHead(head []byte) error {
	if len(head) < 8 {
		return nil
	}
	root := binary.LittleEndian.Uint32(head)
	if root < 4 || root >= 1<<31 || (root < 8 && string(head[4:8]) == FileIdentifier) {
		return fmt.Errorf("not a TFLite model: FlatBuffer root offset %d is impossible", root)
	}
	return nil
}

// ParseWithWarnings is Parse that also reports repairs: TFLM reads an operator's options
// union only when its type is the one the operator expects, so files that run there (TFLM's
// own fuzzing seeds, for one) may carry an options value that points outside the file. Such
// values are dropped (the union becomes NONE) and each drop is reported as a warning.
func ParseWithWarnings(data []byte, name string) (m *schema.ModelT, warnings []string, err error) {
	if name == "" {
		name = "model"
	}
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("%s: not a TFLite model: file has %d bytes, too short for a FlatBuffer", name, len(data))
	}
	// TFLM does not require the file identifier (its fuzzing seeds omit it), so a file
	// without it is accepted when its bytes verify as a Model FlatBuffer.
	hasID := string(data[4:8]) == FileIdentifier
	file := data
	if verr := schema.Verify(data); verr != nil {
		fixed, dropped, ferr := schema.DropInvalidUnions(data)
		switch {
		case ferr == nil:
			data, warnings = fixed, dropped
		case !hasID:
			return nil, nil, fmt.Errorf("%s: not a TFLite model: no %q file identifier and not a valid model FlatBuffer (%v)", name, FileIdentifier, verr)
		default:
			return nil, nil, fmt.Errorf("%s: corrupt model: %w", name, verr)
		}
	}
	// The verifier guarantees every offset and vector is in bounds; recover is a last line
	// of defence so that a verifier gap surfaces as an error, never as a crash.
	defer func() {
		if r := recover(); r != nil {
			m, warnings, err = nil, nil, fmt.Errorf("%s: corrupt model: %v", name, r)
		}
	}()
	m = schema.GetRootAsModel(data, 0).UnPack()
	if err := inlineExternalData(m, file); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := Validate(m); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, warnings, nil
}

// inlineExternalData moves weights that large-model converters store after the FlatBuffer
// (Buffer.offset/size, Operator.large_custom_options_*) into the tree, so the rest of the
// code sees one representation. Save writes them back inline.
func inlineExternalData(m *schema.ModelT, file []byte) error {
	fileLen := uint64(len(file))
	for i, b := range m.Buffers {
		if b == nil || b.Offset <= 1 {
			continue
		}
		if b.Size > fileLen || b.Offset > fileLen-b.Size {
			return fmt.Errorf("buffer %d: external data [%d, +%d) lies outside the %d-byte file", i, b.Offset, b.Size, fileLen)
		}
		b.Data = file[b.Offset : b.Offset+b.Size]
		b.Offset, b.Size = 0, 0
	}
	for si, sg := range m.Subgraphs {
		if sg == nil {
			continue
		}
		for oi, op := range sg.Operators {
			if op == nil || op.LargeCustomOptionsSize == 0 {
				continue
			}
			off, size := op.LargeCustomOptionsOffset, op.LargeCustomOptionsSize
			if size > fileLen || off > fileLen-size {
				return fmt.Errorf("subgraph %d, operator %d: large custom options [%d, +%d) lie outside the %d-byte file", si, oi, off, size, fileLen)
			}
			op.CustomOptions = file[off : off+size]
			op.LargeCustomOptionsOffset, op.LargeCustomOptionsSize = 0, 0
		}
	}
	return nil
}

// Serialize validates m and encodes it as a .tflite FlatBuffer. Buffer data is aligned to 16
// bytes (the schema's force_align, which flatc's Go output ignores). The encoding is
// deterministic: the same tree always gives the same bytes.
func Serialize(m *schema.ModelT) ([]byte, error) {
	if err := Validate(m); err != nil {
		return nil, err
	}
	b := flatbuffers.NewBuilder(1 << 16)
	root := packModel(b, m)
	b.FinishWithFileIdentifier(root, []byte(FileIdentifier))
	out := b.FinishedBytes()
	if len(out) > 1<<31-1 {
		return nil, fmt.Errorf("model encodes to %d bytes, more than a FlatBuffer can address (2 GiB)", len(out))
	}
	return bytes.Clone(out), nil
}

// Save validates m and writes it atomically to path.
func Save(path string, m *schema.ModelT) error {
	data, err := Serialize(m)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}
