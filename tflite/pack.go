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
		return packSubGraph(b, m.Subgraphs[i])
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
		data = packAlignedBytes(b, buf.Data)
	}
	schema.BufferStart(b)
	schema.BufferAddData(b, data)
	schema.BufferAddOffset(b, buf.Offset)
	schema.BufferAddSize(b, buf.Size)
	return schema.BufferEnd(b)
}

// packInt32s writes an int32 vector; a nil slice stays absent.
func packInt32s(b *flatbuffers.Builder, v []int32) flatbuffers.UOffsetT {
	if v == nil {
		return 0
	}
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependInt32(v[i])
	}
	return b.EndVector(len(v))
}

// packSubGraph is the generated SubGraphT.Pack with operators packed by packOperator.
func packSubGraph(b *flatbuffers.Builder, sg *schema.SubGraphT) flatbuffers.UOffsetT {
	if sg == nil {
		schema.SubGraphStart(b)
		return schema.SubGraphEnd(b)
	}
	tensors := packTables(b, len(sg.Tensors), sg.Tensors == nil, func(i int) flatbuffers.UOffsetT {
		return sg.Tensors[i].Pack(b)
	})
	inputs := packInt32s(b, sg.Inputs)
	outputs := packInt32s(b, sg.Outputs)
	operators := packTables(b, len(sg.Operators), sg.Operators == nil, func(i int) flatbuffers.UOffsetT {
		return packOperator(b, sg.Operators[i])
	})
	name := b.CreateString(sg.Name)
	schema.SubGraphStart(b)
	schema.SubGraphAddTensors(b, tensors)
	schema.SubGraphAddInputs(b, inputs)
	schema.SubGraphAddOutputs(b, outputs)
	schema.SubGraphAddOperators(b, operators)
	schema.SubGraphAddName(b, name)
	schema.SubGraphAddDebugMetadataIndex(b, sg.DebugMetadataIndex)
	return schema.SubGraphEnd(b)
}

// packOperator is the generated OperatorT.Pack except that custom_options are aligned to 16
// bytes (the schema's force_align): FlexBuffers align their elements relative to the start of
// the buffer, so an aligned start lets kernels read them with aligned loads (Cortex-M0 has no
// unaligned access).
func packOperator(b *flatbuffers.Builder, op *schema.OperatorT) flatbuffers.UOffsetT {
	if op == nil {
		schema.OperatorStart(b)
		return schema.OperatorEnd(b)
	}
	inputs := packInt32s(b, op.Inputs)
	outputs := packInt32s(b, op.Outputs)
	builtinOptions := op.BuiltinOptions.Pack(b)
	var customOptions flatbuffers.UOffsetT
	if op.CustomOptions != nil {
		customOptions = packAlignedBytes(b, op.CustomOptions)
	}
	var mutating flatbuffers.UOffsetT
	if op.MutatingVariableInputs != nil {
		n := len(op.MutatingVariableInputs)
		schema.OperatorStartMutatingVariableInputsVector(b, n)
		for i := n - 1; i >= 0; i-- {
			b.PrependBool(op.MutatingVariableInputs[i])
		}
		mutating = b.EndVector(n)
	}
	intermediates := packInt32s(b, op.Intermediates)
	builtinOptions2 := op.BuiltinOptions2.Pack(b)
	schema.OperatorStart(b)
	schema.OperatorAddOpcodeIndex(b, op.OpcodeIndex)
	schema.OperatorAddInputs(b, inputs)
	schema.OperatorAddOutputs(b, outputs)
	if op.BuiltinOptions != nil {
		schema.OperatorAddBuiltinOptionsType(b, op.BuiltinOptions.Type)
	}
	schema.OperatorAddBuiltinOptions(b, builtinOptions)
	schema.OperatorAddCustomOptions(b, customOptions)
	schema.OperatorAddCustomOptionsFormat(b, op.CustomOptionsFormat)
	schema.OperatorAddMutatingVariableInputs(b, mutating)
	schema.OperatorAddIntermediates(b, intermediates)
	schema.OperatorAddLargeCustomOptionsOffset(b, op.LargeCustomOptionsOffset)
	schema.OperatorAddLargeCustomOptionsSize(b, op.LargeCustomOptionsSize)
	if op.BuiltinOptions2 != nil {
		schema.OperatorAddBuiltinOptions2Type(b, op.BuiltinOptions2.Type)
	}
	schema.OperatorAddBuiltinOptions2(b, builtinOptions2)
	schema.OperatorAddDebugMetadataIndex(b, op.DebugMetadataIndex)
	return schema.OperatorEnd(b)
}

// packAlignedBytes writes a byte vector whose data starts on a bufferAlignment boundary of
// the finished buffer.
func packAlignedBytes(b *flatbuffers.Builder, data []byte) flatbuffers.UOffsetT {
	b.StartVector(1, len(data), bufferAlignment)
	for i := len(data) - 1; i >= 0; i-- {
		b.PlaceByte(data[i])
	}
	return b.EndVector(len(data))
}
