package flexbuffers

import "fmt"

// Type is a FlexBuffers value type (the upper six bits of a packed type byte).
type Type uint8

// The FlexBuffers types. Values up to TypeFloat and TypeBool are stored inline.
const (
	TypeNull          Type = 0
	TypeInt           Type = 1
	TypeUint          Type = 2
	TypeFloat         Type = 3
	TypeKey           Type = 4
	TypeString        Type = 5
	TypeIndirectInt   Type = 6
	TypeIndirectUint  Type = 7
	TypeIndirectFloat Type = 8
	TypeMap           Type = 9
	TypeVector        Type = 10 // untyped: one type byte per element
	TypeVectorInt     Type = 11
	TypeVectorUint    Type = 12
	TypeVectorFloat   Type = 13
	TypeVectorKey     Type = 14
	// TypeVectorString is deprecated by the format (its strings' count width is implied by
	// the vector's); it is decoded but never written.
	TypeVectorString Type = 15
	TypeVectorInt2   Type = 16
	TypeVectorUint2  Type = 17
	TypeVectorFloat2 Type = 18
	TypeVectorInt3   Type = 19
	TypeVectorUint3  Type = 20
	TypeVectorFloat3 Type = 21
	TypeVectorInt4   Type = 22
	TypeVectorUint4  Type = 23
	TypeVectorFloat4 Type = 24
	TypeBlob         Type = 25
	TypeBool         Type = 26
	TypeVectorBool   Type = 36
)

var typeNames = [...]string{
	"null", "int", "uint", "float", "key", "string", "indirect int", "indirect uint",
	"indirect float", "map", "vector", "int vector", "uint vector", "float vector", "key vector",
	"string vector", "int vector[2]", "uint vector[2]", "float vector[2]", "int vector[3]",
	"uint vector[3]", "float vector[3]", "int vector[4]", "uint vector[4]", "float vector[4]",
	"blob", "bool",
}

// String returns a short lower-case name of t ("int", "map", "float vector[3]", ...).
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	if t == TypeVectorBool {
		return "bool vector"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// valid reports whether t is a type the format defines.
func (t Type) valid() bool { return t <= TypeBool || t == TypeVectorBool }

// Inline reports whether values of type t are stored in their parent rather than referenced
// by an offset.
func (t Type) Inline() bool { return t <= TypeFloat || t == TypeBool }

// typedVector reports whether t is a typed vector with a count (not fixed-length).
func (t Type) typedVector() bool {
	return (t >= TypeVectorInt && t <= TypeVectorString) || t == TypeVectorBool
}

// fixedVector reports whether t is a fixed-length typed vector and returns its length.
func (t Type) fixedVector() (n int, ok bool) {
	if t < TypeVectorInt2 || t > TypeVectorFloat4 {
		return 0, false
	}
	return int(t-TypeVectorInt2)/3 + 2, true
}

// elemType returns the element type of a typed or fixed typed vector type.
func (t Type) elemType() Type {
	if t.typedVector() {
		if t == TypeVectorBool {
			return TypeBool
		}
		return t - TypeVectorInt + TypeInt
	}
	return (t-TypeVectorInt2)%3 + TypeInt
}

// vectorOf returns the typed vector type of elements of type e, fixed to n elements when n
// is 2, 3 or 4 (e must be Int, Uint, Float, Key or Bool; Key and Bool have no fixed form).
func vectorOf(e Type, n int) Type {
	if e == TypeBool {
		return TypeVectorBool
	}
	if n == 0 {
		return e - TypeInt + TypeVectorInt
	}
	return TypeVectorInt2 + Type(n-2)*3 + (e - TypeInt)
}

// Width is a byte width code: the lower two bits of a packed type, log2 of the byte count.
type Width uint8

// The four byte widths.
const (
	W8  Width = 0
	W16 Width = 1
	W32 Width = 2
	W64 Width = 3
)

// Bytes returns the number of bytes of width w (1, 2, 4 or 8).
func (w Width) Bytes() int { return 1 << (w & 3) }

// widthU returns the smallest width that holds u.
func widthU(u uint64) Width {
	switch {
	case u <= 0xff:
		return W8
	case u <= 0xffff:
		return W16
	case u <= 0xffffffff:
		return W32
	}
	return W64
}

// widthI returns the smallest width that holds i as two's complement.
func widthI(i int64) Width {
	u := uint64(i) << 1
	if i < 0 {
		u = ^u
	}
	return widthU(u)
}

// widthF returns W32 when f survives a round trip through float32, else W64 (NaNs get W64,
// which keeps their payload).
func widthF(f float64) Width {
	if float64(float32(f)) == f {
		return W32
	}
	return W64
}

func packType(t Type, w Width) byte { return byte(t)<<2 | byte(w) }
