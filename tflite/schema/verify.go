package schema

//go:generate go run ./internal/verifygen

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Limits of the verifier. FlatBuffers offsets address at most 2 GiB; bytes beyond that (large
// TFLite models keep weights after the FlatBuffer, see Buffer.offset) are not looked at.
const (
	maxFlatBufferSize = 1<<31 - 1
	maxDepth          = 64        // nesting of tables, as the C++ verifier's default
	maxTables         = 1_000_000 // tables visited, as the C++ verifier's default
	// Objects reached through shared offsets are visited (and unpacked) once per reference, so
	// a small file could expand enormously; the bytes of all visited tables, vectors and
	// strings may not exceed expansionFactor times the buffer size plus expansionSlack.
	// A buffer without sharing never visits more bytes than it holds.
	expansionFactor = 2
	expansionSlack  = 1 << 20
)

// fieldKind says how a vtable slot is stored.
type fieldKind uint8

const (
	kindScalar       fieldKind = iota // inline scalar or enum of size bytes
	kindStruct                        // inline struct of size bytes, aligned to align
	kindString                        // offset to a string
	kindTable                         // offset to table ref
	kindUnion                         // offset to a member of union ref; the type byte is the slot before
	kindScalarVector                  // offset to a vector of size-byte scalars
	kindStructVector                  // offset to a vector of size-byte structs
	kindStringVector                  // offset to a vector of offsets to strings
	kindTableVector                   // offset to a vector of offsets to tables ref
	kindDeprecated                    // slot kept for a removed field: not read, not checked
)

type tableIndex int16

type unionIndex int16

// fieldDesc describes one vtable slot of a table.
type fieldDesc struct {
	name     string
	kind     fieldKind
	size     int // scalar, struct or vector element size in bytes
	align    int // alignment of an inline struct
	ref      int // tableIndex or unionIndex, for kinds that refer to one
	required bool
}

// tableDesc describes a table: its fields in vtable-slot order.
type tableDesc struct {
	name   string
	fields []fieldDesc
}

// unionDesc lists a union's member tables by type value; -1 marks values without a member
// (0 is always NONE).
type unionDesc struct {
	name    string
	members []tableIndex
}

// schemaDesc is everything the verifier needs to know about a schema.
type schemaDesc struct {
	tables []tableDesc
	unions []unionDesc
	root   tableIndex
}

// Verify checks that buf is a structurally sound TFLite FlatBuffer: every table, vtable,
// string, vector and union reachable from the root Model lies inside the buffer and is
// consistent with schema.fbs, with the rules of the C++ flatbuffers::Verifier (depth limit 64,
// at most 1,000,000 tables) except alignment, which VerifyAligned adds. It also bounds the
// expansion that shared offsets could cause in the object API: once Verify has returned nil,
// GetRootAsModel(buf, 0).UnPack() reads only inside buf and allocates at most a small
// multiple of len(buf). The "TFL3" file identifier is not required (TFLM does not require it
// and some real files lack it); callers that want it check buf[4:8]. Values (indices, shapes)
// are not checked; package tflite does that. Errors name the offending object, e.g.
// "Model.subgraphs[0].tensors[3].shape: vector of 4-byte elements with length 1073741823
// runs past the end of the buffer (size 552)".
func Verify(buf []byte) error {
	return verifyBuffer(buf, tfliteSchema(), false)
}

// VerifyAligned is Verify plus the alignment rules of the C++ verifier: every table, vtable,
// vector, string and field starts at a multiple of its alignment. Microcontrollers without
// unaligned loads (Cortex-M0, for one) need them; the Go reader does not. Files flatc-based
// writers produce, including this project's, always satisfy them.
func VerifyAligned(buf []byte) error {
	return verifyBuffer(buf, tfliteSchema(), true)
}

// DropInvalidUnions is for files that only a lenient reader accepts: TFLM reads a union
// (Operator.builtin_options, for one) only when its type is the one the operator expects, so
// a converter bug or a hand-made test file can carry a union whose value is garbage and still
// run there. If buf verifies, it is returned unchanged. Otherwise, when every failure lies
// inside the value of a union, DropInvalidUnions returns a copy of buf in which those unions'
// type bytes are set to NONE (so readers skip the values), which verifies, and one line per
// dropped union saying where and why. Any other failure is returned as err.
func DropInvalidUnions(buf []byte) (out []byte, dropped []string, err error) {
	s := tfliteSchema()
	first := verifyBuffer(buf, s, false)
	if first == nil {
		return buf, nil, nil
	}
	v, err := newVerifier(buf, s, false)
	if err != nil {
		return nil, nil, err
	}
	v.dropUnions = true
	if err := v.run(); err != nil || len(v.dropped) == 0 {
		return nil, nil, first
	}
	out = append([]byte(nil), buf...)
	for i, d := range v.dropped {
		out[d.typeAt] = 0
		if i == maxDropReports {
			dropped = append(dropped, fmt.Sprintf("... and %d more invalid unions", len(v.dropped)-i))
		} else if i < maxDropReports {
			dropped = append(dropped, d.reason)
		}
	}
	// A hostile file can overlap a type byte with other structure; check the result again.
	if err := verifyBuffer(out, s, false); err != nil {
		return nil, nil, first
	}
	return out, dropped, nil
}

// maxDropReports bounds the reasons DropInvalidUnions lists.
const maxDropReports = 20

// droppedUnion records a union value that failed verification.
type droppedUnion struct {
	typeAt uint64 // buffer offset of the union's type byte
	reason string
}

// tfliteSchema describes schema.fbs from the generated tables.
func tfliteSchema() *schemaDesc {
	return &schemaDesc{tables: verifyTables[:], unions: verifyUnions[:], root: verifyRoot}
}

// step is one element of the path from the root to the object being checked.
type step struct {
	name   string
	index  int    // vector element, or -1
	member string // union member type, or ""
}

type verifier struct {
	s      *schemaDesc
	buf    []byte // the FlatBuffer region; every offset must land inside it
	size   uint64 // len(buf)
	align  bool   // enforce alignment
	depth  int
	tables int
	// dropUnions makes a union whose value fails verification a recorded, not fatal, error.
	dropUnions bool
	dropped    []droppedUnion
	limitHit   bool   // a global limit (depth, tables, expansion) was exceeded: never lenient
	budget     uint64 // bytes that may still be visited
	path       []step
}

func verifyBuffer(buf []byte, s *schemaDesc, align bool) error {
	v, err := newVerifier(buf, s, align)
	if err != nil {
		return err
	}
	return v.run()
}

func newVerifier(buf []byte, s *schemaDesc, align bool) (*verifier, error) {
	if len(buf) < 8 {
		return nil, fmt.Errorf("buffer of %d bytes is too short for a FlatBuffer", len(buf))
	}
	if len(buf) > maxFlatBufferSize {
		buf = buf[:maxFlatBufferSize]
	}
	return &verifier{
		s:      s,
		buf:    buf,
		size:   uint64(len(buf)),
		align:  align,
		budget: expansionFactor*uint64(len(buf)) + expansionSlack,
		path:   make([]step, 0, 16),
	}, nil
}

// run verifies the buffer from its root table.
func (v *verifier) run() error {
	root, err := v.offset(0)
	if err != nil {
		return fmt.Errorf("root table: %w", err)
	}
	v.push(v.s.tables[v.s.root].name)
	return v.table(root, v.s.root)
}

func (v *verifier) u16(at uint64) uint64 { return uint64(binary.LittleEndian.Uint16(v.buf[at:])) }
func (v *verifier) u32(at uint64) uint64 { return uint64(binary.LittleEndian.Uint32(v.buf[at:])) }

func (v *verifier) push(name string) { v.path = append(v.path, step{name: name, index: -1}) }
func (v *verifier) pop()             { v.path = v.path[:len(v.path)-1] }

// errorf returns an error prefixed with the current path.
func (v *verifier) errorf(format string, args ...any) error {
	var b strings.Builder
	for i, s := range v.path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.name)
		if s.member != "" {
			b.WriteString("(" + s.member + ")")
		}
		if s.index >= 0 {
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		}
	}
	msg := fmt.Sprintf(format, args...)
	if b.Len() == 0 {
		return fmt.Errorf("%s", msg)
	}
	return fmt.Errorf("%s: %s", b.String(), msg)
}

// charge accounts n visited bytes against the expansion budget.
func (v *verifier) charge(n uint64) error {
	if n > v.budget {
		v.limitHit = true
		return v.errorf("objects reached through shared offsets add up to more than %d bytes (%dx the buffer size of %d, plus %d)",
			expansionFactor*v.size+expansionSlack, expansionFactor, v.size, expansionSlack)
	}
	v.budget -= n
	return nil
}

// offset follows the uoffset stored at at (already known to be in bounds and aligned).
func (v *verifier) offset(at uint64) (uint64, error) {
	if at+4 > v.size {
		return 0, v.errorf("offset at %d lies outside the buffer (size %d)", at, v.size)
	}
	u := v.u32(at)
	if u == 0 {
		return 0, v.errorf("offset at %d is zero (points at itself)", at)
	}
	if u > maxFlatBufferSize {
		return 0, v.errorf("offset %d at %d exceeds the 2 GiB FlatBuffers limit", u, at)
	}
	target := at + u
	if target >= v.size {
		return 0, v.errorf("offset %d at %d points past the end of the buffer (size %d)", u, at, v.size)
	}
	return target, nil
}

// table checks the table at pos and, recursively, everything it refers to.
func (v *verifier) table(pos uint64, t tableIndex) error {
	desc := &v.s.tables[t]
	if v.depth >= maxDepth {
		v.limitHit = true
		return v.errorf("tables nested more than %d deep", maxDepth)
	}
	v.tables++
	if v.tables > maxTables {
		v.limitHit = true
		return v.errorf("more than %d tables", maxTables)
	}
	if v.align && pos%4 != 0 {
		return v.errorf("%s table at %d is not 4-byte aligned", desc.name, pos)
	}
	if pos+4 > v.size {
		return v.errorf("%s table at %d lies outside the buffer (size %d)", desc.name, pos, v.size)
	}
	vt := int64(pos) - int64(int32(v.u32(pos)))
	if vt < 0 || uint64(vt)+4 > v.size {
		return v.errorf("vtable of %s table at %d points to %d, outside the buffer (size %d)", desc.name, pos, vt, v.size)
	}
	vtab := uint64(vt)
	if v.align && vtab%2 != 0 {
		return v.errorf("vtable of %s table at %d is not 2-byte aligned", desc.name, pos)
	}
	vsize, tsize := v.u16(vtab), v.u16(vtab+2)
	if vsize < 4 || vsize%2 != 0 {
		return v.errorf("vtable of %s table at %d has invalid size %d", desc.name, pos, vsize)
	}
	if vtab+vsize > v.size {
		return v.errorf("vtable of %s table at %d (%d bytes) runs past the end of the buffer (size %d)", desc.name, pos, vsize, v.size)
	}
	if tsize < 4 || pos+tsize > v.size {
		return v.errorf("%s table at %d with size %d runs past the end of the buffer (size %d)", desc.name, pos, tsize, v.size)
	}
	if err := v.charge(tsize); err != nil {
		return err
	}
	v.depth++
	slots := (vsize - 4) / 2
	for i := range desc.fields {
		f := &desc.fields[i]
		var off uint64
		if uint64(i) < slots {
			off = v.u16(vtab + 4 + 2*uint64(i))
		}
		if f.kind == kindDeprecated {
			continue
		}
		if off == 0 {
			if f.required {
				v.push(f.name)
				return v.errorf("required field is missing")
			}
			continue
		}
		v.push(f.name)
		if err := v.field(pos, tsize, off, f); err != nil {
			return err
		}
		if f.kind == kindUnion {
			if err := v.union(pos, vtab, slots, i, off, f); err != nil {
				return err
			}
		}
		v.pop()
	}
	v.depth--
	return nil
}

// field checks one present field of the table at pos (of tsize bytes) stored at offset off.
func (v *verifier) field(pos, tsize, off uint64, f *fieldDesc) error {
	size, align := uint64(4), uint64(4) // offsets
	switch f.kind {
	case kindScalar:
		size, align = uint64(f.size), uint64(f.size)
	case kindStruct:
		size, align = uint64(f.size), uint64(f.align)
	}
	if off < 4 || off+size > tsize {
		return v.errorf("field at table offset %d (%d bytes) lies outside its %d-byte table", off, size, tsize)
	}
	at := pos + off
	if v.align && at%align != 0 {
		return v.errorf("field at %d is not %d-byte aligned", at, align)
	}
	switch f.kind {
	case kindString:
		return v.string(at)
	case kindTable:
		target, err := v.offset(at)
		if err != nil {
			return err
		}
		return v.table(target, tableIndex(f.ref))
	case kindScalarVector, kindStructVector:
		_, _, err := v.vector(at, uint64(f.size))
		return err
	case kindStringVector:
		start, n, err := v.vector(at, 4)
		if err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			v.path[len(v.path)-1].index = int(i)
			if err := v.string(start + 4*i); err != nil {
				return err
			}
		}
	case kindTableVector:
		start, n, err := v.vector(at, 4)
		if err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			v.path[len(v.path)-1].index = int(i)
			target, err := v.offset(start + 4*i)
			if err != nil {
				return err
			}
			if err := v.table(target, tableIndex(f.ref)); err != nil {
				return err
			}
		}
	}
	return nil
}

// union checks the value of the union field in slot i of the table at pos, whose offset
// field (at table offset off) field has already checked. The type byte is in slot i-1.
// NONE and type values this schema does not know are accepted without following the
// offset, as the C++ verifier does; the generated UnPack returns nil for them.
func (v *verifier) union(pos, vtab, slots uint64, i int, off uint64, f *fieldDesc) error {
	typ, typeAt := 0, uint64(0)
	if i > 0 && uint64(i-1) < slots {
		// The type slot was checked before this one; the bound only guards against schema
		// descriptions that would skip it.
		if toff := v.u16(vtab + 4 + 2*uint64(i-1)); toff != 0 && pos+toff < v.size {
			typeAt = pos + toff
			typ = int(v.buf[typeAt])
		}
	}
	u := &v.s.unions[f.ref]
	if typ == 0 || typ >= len(u.members) || u.members[typ] < 0 {
		return nil
	}
	member := u.members[typ]
	v.path[len(v.path)-1].member = v.s.tables[member].name
	depth, pathLen := v.depth, len(v.path)
	target, err := v.offset(pos + off)
	if err == nil {
		err = v.table(target, member)
	}
	if err != nil && v.dropUnions && !v.limitHit {
		v.dropped = append(v.dropped, droppedUnion{typeAt: typeAt, reason: err.Error()})
		v.depth, v.path = depth, v.path[:pathLen]
		return nil
	}
	return err
}

// vector checks the vector referenced by the offset at at, with elements of elem bytes,
// and returns the position of its first element and its length.
func (v *verifier) vector(at, elem uint64) (start, n uint64, err error) {
	vec, err := v.offset(at)
	if err != nil {
		return 0, 0, err
	}
	if v.align && vec%4 != 0 {
		return 0, 0, v.errorf("vector at %d is not 4-byte aligned", vec)
	}
	if vec+4 > v.size {
		return 0, 0, v.errorf("vector length at %d lies outside the buffer (size %d)", vec, v.size)
	}
	n = v.u32(vec)
	if bytes := n * elem; vec+4+bytes > v.size {
		return 0, 0, v.errorf("vector of %d-byte elements with length %d runs past the end of the buffer (size %d)", elem, n, v.size)
	}
	if err := v.charge(4 + n*elem); err != nil {
		return 0, 0, err
	}
	return vec + 4, n, nil
}

// string checks the string referenced by the offset at at: in bounds and NUL-terminated.
func (v *verifier) string(at uint64) error {
	s, err := v.offset(at)
	if err != nil {
		return err
	}
	if v.align && s%4 != 0 {
		return v.errorf("string at %d is not 4-byte aligned", s)
	}
	if s+4 > v.size {
		return v.errorf("string length at %d lies outside the buffer (size %d)", s, v.size)
	}
	n := v.u32(s)
	end := s + 4 + n // position of the terminating NUL
	if end >= v.size {
		return v.errorf("string of length %d runs past the end of the buffer (size %d)", n, v.size)
	}
	if v.buf[end] != 0 {
		return v.errorf("string of length %d at %d is not NUL-terminated", n, s)
	}
	return v.charge(4 + n + 1)
}
