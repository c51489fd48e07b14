package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/quantmcu/quantmcu/plugin"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// version is the plugin's version.
const version = "1.0.0"

// debugMetadata lists metadata entries that only record how a model was made; neither TFLite
// nor TFLM reads them when running the model. Entries that change execution
// (OfflineMemoryAllocation) or that applications read (TFLITE_METADATA) are kept.
func debugMetadata(name string) bool {
	return name == "min_runtime_version" || name == "CONVERSION_METADATA"
}

type stripper struct{}

func (stripper) Describe() plugin.Description {
	return plugin.Description{
		Name:    "strip",
		Version: version,
		Summary: "merge duplicate operator codes, drop unused buffers, debug metadata and optionally tensor names",
		Options: []plugin.Option{
			{Name: "metadata", Type: plugin.Bool, Default: "true",
				Help: "drop metadata no runtime reads (min_runtime_version, CONVERSION_METADATA)"},
			{Name: "names", Type: plugin.Bool, Default: "false",
				Help: "drop tensor and subgraph names (TFLM never reads them; they help debugging)"},
		},
	}
}

func (stripper) Optimize(ctx context.Context, req *plugin.Request, progress func(string, float64)) (*plugin.Response, error) {
	dropMeta, err := req.Options.Bool("metadata")
	if err != nil {
		return nil, err
	}
	dropNames, err := req.Options.Bool("names")
	if err != nil {
		return nil, err
	}
	m, err := tflite.Parse(req.Model, req.ModelName)
	if err != nil {
		return nil, plugin.BadInput(err)
	}
	progress("parsed", 0.2)
	st := strip(m, dropMeta, dropNames)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := tflite.Serialize(m)
	if err != nil {
		return nil, fmt.Errorf("stripped model: %w", err)
	}
	progress("serialized", 1)
	st.bytesBefore, st.bytesAfter = len(req.Model), len(out)
	resp := &plugin.Response{
		Model:     out,
		Summary:   st.summary(),
		Artifacts: map[string][]byte{"strip.csv": st.csv()},
	}
	for _, name := range st.droppedMetadata {
		resp.Diagnostics = append(resp.Diagnostics, plugin.Diagnostic{
			Level: plugin.Info, Operator: -1, Message: fmt.Sprintf("dropped metadata %q", name)})
	}
	return resp, nil
}

// stats counts what strip changed.
type stats struct {
	opcodesBefore, opcodesAfter   int
	buffersBefore, buffersAfter   int
	metadataBefore, metadataAfter int
	nameBytesBefore               int
	nameBytesAfter                int
	bytesBefore, bytesAfter       int
	droppedMetadata               []string
}

func (s *stats) summary() string {
	return fmt.Sprintf("operator codes %d -> %d, buffers %d -> %d, metadata entries %d -> %d, name bytes %d -> %d; %d -> %d bytes (%+d)",
		s.opcodesBefore, s.opcodesAfter, s.buffersBefore, s.buffersAfter, s.metadataBefore, s.metadataAfter,
		s.nameBytesBefore, s.nameBytesAfter, s.bytesBefore, s.bytesAfter, s.bytesAfter-s.bytesBefore)
}

func (s *stats) csv() []byte {
	var b strings.Builder
	b.WriteString("item,before,after\n")
	fmt.Fprintf(&b, "operator_codes,%d,%d\n", s.opcodesBefore, s.opcodesAfter)
	fmt.Fprintf(&b, "buffers,%d,%d\n", s.buffersBefore, s.buffersAfter)
	fmt.Fprintf(&b, "metadata_entries,%d,%d\n", s.metadataBefore, s.metadataAfter)
	fmt.Fprintf(&b, "name_bytes,%d,%d\n", s.nameBytesBefore, s.nameBytesAfter)
	fmt.Fprintf(&b, "model_bytes,%d,%d\n", s.bytesBefore, s.bytesAfter)
	return []byte(b.String())
}

// strip rewrites m in place. Operators, tensors and their data are untouched apart from the
// renumbering of operator codes and buffers.
func strip(m *schema.ModelT, dropMeta, dropNames bool) *stats {
	st := &stats{opcodesBefore: len(m.OperatorCodes), buffersBefore: len(m.Buffers), metadataBefore: len(m.Metadata)}
	st.nameBytesBefore = nameBytes(m)
	mergeOpcodes(m)
	if dropMeta {
		kept := m.Metadata[:0:0]
		for _, md := range m.Metadata {
			if debugMetadata(md.Name) {
				st.droppedMetadata = append(st.droppedMetadata, md.Name)
				continue
			}
			kept = append(kept, md)
		}
		m.Metadata = kept
	}
	if dropNames {
		for _, sg := range m.Subgraphs {
			sg.Name = ""
			for _, t := range sg.Tensors {
				t.Name = ""
			}
		}
	}
	dropUnusedBuffers(m)
	st.opcodesAfter, st.buffersAfter, st.metadataAfter = len(m.OperatorCodes), len(m.Buffers), len(m.Metadata)
	st.nameBytesAfter = nameBytes(m)
	return st
}

func nameBytes(m *schema.ModelT) int {
	n := 0
	for _, sg := range m.Subgraphs {
		n += len(sg.Name)
		for _, t := range sg.Tensors {
			n += len(t.Name)
		}
	}
	return n
}

// mergeOpcodes keeps one operator code per distinct (builtin code, custom code, version), in
// order of first use, and renumbers the operators.
func mergeOpcodes(m *schema.ModelT) {
	type key struct {
		code    schema.BuiltinOperator
		custom  string
		version int32
	}
	var codes []*schema.OperatorCodeT
	index := map[key]uint32{}
	for _, sg := range m.Subgraphs {
		for _, op := range sg.Operators {
			oc := m.OperatorCodes[op.OpcodeIndex]
			k := key{tflite.BuiltinCode(oc), oc.CustomCode, oc.Version}
			i, ok := index[k]
			if !ok {
				i = uint32(len(codes))
				index[k] = i
				codes = append(codes, oc)
			}
			op.OpcodeIndex = i
		}
	}
	m.OperatorCodes = codes
}

// dropUnusedBuffers removes the buffers no tensor or metadata entry refers to, keeping
// buffer 0 (the schema's empty sentinel), and renumbers the references.
func dropUnusedBuffers(m *schema.ModelT) {
	used := make([]bool, len(m.Buffers))
	if len(used) > 0 {
		used[0] = true
	}
	for _, sg := range m.Subgraphs {
		for _, t := range sg.Tensors {
			used[t.Buffer] = true
		}
	}
	for _, md := range m.Metadata {
		used[md.Buffer] = true
	}
	for _, b := range m.MetadataBuffer {
		used[b] = true
	}
	if !slices.Contains(used, false) {
		return
	}
	renum := make([]uint32, len(m.Buffers))
	var kept []*schema.BufferT
	for i, b := range m.Buffers {
		if used[i] {
			renum[i] = uint32(len(kept))
			kept = append(kept, b)
		}
	}
	m.Buffers = kept
	for _, sg := range m.Subgraphs {
		for _, t := range sg.Tensors {
			t.Buffer = renum[t.Buffer]
		}
	}
	for _, md := range m.Metadata {
		md.Buffer = renum[md.Buffer]
	}
	for i, b := range m.MetadataBuffer {
		m.MetadataBuffer[i] = int32(renum[b])
	}
}
