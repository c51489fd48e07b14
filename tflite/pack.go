package tflite

import (
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// bufferAlignment is the schema's force_align for Buffer.data: SIMD kernels and DMA engines
// expect weight buffers on 16-byte boundaries.
const bufferAlignment = 16

// packModel encodes m like the generated ModelT.Pack, except that buffer data is aligned.
func packModel(b *flatbuffers.Builder, m *schema.ModelT) flatbuffers.UOffsetT {
	buffers := packTables(b, len(m.Buffers), m.Buffers == nil, func(i int) flatbuffers.UOffsetT {
		return packBuffer(b, m.Buffers[i])
	})
	opcodes := packTables(b, len(m.OperatorCodes), m.OperatorCodes == nil, func(i int) flatbuffers.UOffsetT {
		return m.OperatorCodes[i].Pack(b)
	})
	subgraphs := packTables(b, len(m.Subgraphs), m.Subgraphs == nil, func(i int) flatbuffers.UOffsetT {
		return m.Subgraphs[i].Pack(b)
	})
	description := b.CreateString(m.Description)
	var metadataBuffer flatbuffers.UOffsetT
	if m.MetadataBuffer != nil {
		schema.ModelStartMetadataBufferVector(b, len(m.MetadataBuffer))
		for i := len(m.MetadataBuffer) - 1; i >= 0; i-- {
			b.PrependInt32(m.MetadataBuffer[i])
		}
		metadataBuffer = b.EndVector(len(m.MetadataBuffer))
	}
	metadata := packTables(b, len(m.Metadata), m.Metadata == nil, func(i int) flatbuffers.UOffsetT {
		return m.Metadata[i].Pack(b)
	})
	signatures := packTables(b, len(m.SignatureDefs), m.SignatureDefs == nil, func(i int) flatbuffers.UOffsetT {
		return m.SignatureDefs[i].Pack(b)
	})
	extGroups := packTables(b, len(m.ExternalBufferGroups), m.ExternalBufferGroups == nil, func(i int) flatbuffers.UOffsetT {
		return m.ExternalBufferGroups[i].Pack(b)
	})
	extBuffers := packTables(b, len(m.ExternalBuffers), m.ExternalBuffers == nil, func(i int) flatbuffers.UOffsetT {
		return m.ExternalBuffers[i].Pack(b)
	})
	schema.ModelStart(b)
	schema.ModelAddVersion(b, m.Version)
	schema.ModelAddOperatorCodes(b, opcodes)
	schema.ModelAddSubgraphs(b, subgraphs)
	schema.ModelAddDescription(b, description)
	schema.ModelAddBuffers(b, buffers)
	schema.ModelAddMetadataBuffer(b, metadataBuffer)
	schema.ModelAddMetadata(b, metadata)
	schema.ModelAddSignatureDefs(b, signatures)
	schema.ModelAddExternalBufferGroups(b, extGroups)
	schema.ModelAddExternalBuffers(b, extBuffers)
	return schema.ModelEnd(b)
}

// packTables packs n tables with packOne and writes the vector of their offsets. An absent
// (nil) vector stays absent, so round trips keep nil and empty apart.
func packTables(b *flatbuffers.Builder, n int, absent bool, packOne func(i int) flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	if absent {
		return 0
	}
	offsets := make([]flatbuffers.UOffsetT, n)
	for i := range offsets {
		offsets[i] = packOne(i)
	}
	b.StartVector(flatbuffers.SizeUOffsetT, n, flatbuffers.SizeUOffsetT)
	for i := n - 1; i >= 0; i-- {
		b.PrependUOffsetT(offsets[i])
	}
	return b.EndVector(n)
}

func packBuffer(b *flatbuffers.Builder, buf *schema.BufferT) flatbuffers.UOffsetT {
	if buf == nil {
		schema.BufferStart(b)
		return schema.BufferEnd(b)
	}
	var data flatbuffers.UOffsetT
	if buf.Data != nil {
		b.StartVector(1, len(buf.Data), bufferAlignment)
		for i := len(buf.Data) - 1; i >= 0; i-- {
			b.PlaceByte(buf.Data[i])
		}
		data = b.EndVector(len(buf.Data))
	}
	schema.BufferStart(b)
	schema.BufferAddData(b, data)
	schema.BufferAddOffset(b, buf.Offset)
	schema.BufferAddSize(b, buf.Size)
	return schema.BufferEnd(b)
}
