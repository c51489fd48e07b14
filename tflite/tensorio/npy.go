package tensorio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// NPY is a decoded .npy array: its element type, shape and little-endian C-order data.
type NPY struct {
	Type  schema.TensorType
	Shape []int64
	Data  []byte // aliases the parsed file
}

// npyDescr maps .npy dtype descriptors (without byte-order mark) to tensor types.
var npyDescr = map[string]schema.TensorType{
	"i1": schema.TensorTypeINT8, "u1": schema.TensorTypeUINT8, "b1": schema.TensorTypeBOOL,
	"i2": schema.TensorTypeINT16, "u2": schema.TensorTypeUINT16, "f2": schema.TensorTypeFLOAT16,
	"i4": schema.TensorTypeINT32, "u4": schema.TensorTypeUINT32, "f4": schema.TensorTypeFLOAT32,
	"i8": schema.TensorTypeINT64, "u8": schema.TensorTypeUINT64, "f8": schema.TensorTypeFLOAT64,
}

// ParseNPY decodes a .npy file (format versions 1, 2 and 3). Only little-endian (or
// single-byte) dtypes in C order are accepted. The header is checked against the file size
// before anything is allocated from it; Data aliases data.
func ParseNPY(data []byte) (*NPY, error) {
	if len(data) < 10 || string(data[:6]) != npyMagic {
		return nil, fmt.Errorf("not a .npy file (missing \\x93NUMPY magic)")
	}
	major := data[6]
	var hlen, start int
	switch major {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(data[8:10])), 10
	case 2, 3:
		if len(data) < 12 {
			return nil, fmt.Errorf(".npy header truncated")
		}
		hlen, start = int(binary.LittleEndian.Uint32(data[8:12])), 12
	default:
		return nil, fmt.Errorf(".npy format version %d.%d is not supported (1, 2 or 3)", major, data[7])
	}
	if hlen < 0 || hlen > len(data)-start {
		return nil, fmt.Errorf(".npy header length %d exceeds the file (%d bytes)", hlen, len(data))
	}
	header := string(data[start : start+hlen])
	body := data[start+hlen:]
	dict, err := parsePyDict(header)
	if err != nil {
		return nil, fmt.Errorf(".npy header %q: %w", strings.TrimSpace(header), err)
	}
	descr, ok := dict["descr"].(string)
	if !ok {
		return nil, fmt.Errorf(".npy header has no string 'descr' (structured dtypes are not supported)")
	}
	if fo, _ := dict["fortran_order"].(bool); fo {
		return nil, fmt.Errorf(".npy array is in Fortran order; save it in C order (np.ascontiguousarray)")
	}
	shapeAny, ok := dict["shape"].([]int64)
	if !ok {
		return nil, fmt.Errorf(".npy header has no integer 'shape' tuple")
	}
	typ, err := npyType(descr)
	if err != nil {
		return nil, err
	}
	es, _ := elemSize(typ)
	// Element count, bounded by what the file can hold so nothing overflows.
	limit := int64(len(body) / es)
	count := int64(1)
	for _, d := range shapeAny {
		if d < 0 {
			return nil, fmt.Errorf(".npy shape %v has a negative dimension", shapeAny)
		}
		if d == 0 {
			count = 0
			break
		}
	}
	for _, d := range shapeAny {
		if count == 0 {
			break
		}
		if count > limit/d {
			return nil, fmt.Errorf(".npy shape %v of %s needs more than the %d data bytes in the file", shapeAny, descr, len(body))
		}
		count *= d
	}
	if count*int64(es) != int64(len(body)) {
		return nil, fmt.Errorf(".npy shape %v of %s needs %d data bytes, file has %d", shapeAny, descr, count*int64(es), len(body))
	}
	return &NPY{Type: typ, Shape: shapeAny, Data: body}, nil
}

func npyType(descr string) (schema.TensorType, error) {
	if len(descr) != 3 {
		return 0, fmt.Errorf(".npy dtype %q is not supported", descr)
	}
	order, code := descr[0], descr[1:]
	typ, ok := npyDescr[code]
	if !ok {
		return 0, fmt.Errorf(".npy dtype %q is not supported", descr)
	}
	switch order {
	case '<', '|', '=':
	case '>':
		if code[1] != '1' {
			return 0, fmt.Errorf(".npy dtype %q is big-endian; save it little-endian (astype('<%s'))", descr, code)
		}
	default:
		return 0, fmt.Errorf(".npy dtype %q has an unknown byte order", descr)
	}
	return typ, nil
}

// EncodeNPY returns a version 1.0 .npy file holding data (little-endian, C order) with the
// given type and shape.
func EncodeNPY(typ schema.TensorType, shape []int32, data []byte) ([]byte, error) {
	es, err := elemSize(typ)
	if err != nil {
		return nil, err
	}
	n, err := tflite.ElementCount(shape)
	if err != nil {
		return nil, err
	}
	if n*int64(es) != int64(len(data)) {
		return nil, fmt.Errorf("npy: shape %s of %s needs %d bytes, got %d", tflite.FormatShape(shape), typeLabel(typ), n*int64(es), len(data))
	}
	var code string
	for c, t := range npyDescr {
		if t == typ {
			code = c
		}
	}
	order := "<"
	if es == 1 {
		order = "|"
	}
	var dims []string
	for _, d := range shape {
		dims = append(dims, strconv.Itoa(int(d)))
	}
	tuple := "(" + strings.Join(dims, ", ")
	if len(dims) == 1 {
		tuple += ","
	}
	tuple += ")"
	h := fmt.Sprintf("{'descr': '%s%s', 'fortran_order': False, 'shape': %s, }", order, code, tuple)
	// Pad with spaces so the data starts on a 64-byte boundary, ending in a newline.
	total := len(npyMagic) + 4 + len(h) + 1
	h += strings.Repeat(" ", (64-total%64)%64) + "\n"
	if len(h) > 0xffff {
		return nil, fmt.Errorf("npy: header too long")
	}
	var b bytes.Buffer
	b.WriteString(npyMagic)
	b.Write([]byte{1, 0})
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	b.Write(data)
	return b.Bytes(), nil
}

// parsePyDict parses the Python dict literal of a .npy header: string keys mapping to
// strings, booleans, or tuples of integers.
func parsePyDict(s string) (map[string]any, error) {
	p := &pyParser{s: s}
	p.space()
	if !p.eat('{') {
		return nil, fmt.Errorf("expected '{'")
	}
	out := map[string]any{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eat(':') {
			return nil, fmt.Errorf("expected ':' after key %q", key)
		}
		p.space()
		v, err := p.value()
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		out[key] = v
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if p.eat('}') {
			break
		}
		return nil, fmt.Errorf("expected ',' or '}' at offset %d", p.i)
	}
	return out, nil
}

type pyParser struct {
	s string
	i int
}

func (p *pyParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyParser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", fmt.Errorf("expected a string at offset %d", p.i)
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", fmt.Errorf("unterminated string at offset %d", p.i)
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

func (p *pyParser) value() (any, error) {
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("missing value")
	}
	switch c := p.s[p.i]; {
	case c == '\'' || c == '"':
		return p.str()
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	case c == '(' || c == '[':
		closer := byte(')')
		if c == '[' {
			closer = ']'
		}
		p.i++
		dims := []int64{}
		for {
			p.space()
			if p.eat(closer) {
				return dims, nil
			}
			j := p.i
			for j < len(p.s) && (p.s[j] >= '0' && p.s[j] <= '9' || p.s[j] == '-') {
				j++
			}
			// Python 2 era writers append L to longs.
			d, err := strconv.ParseInt(p.s[p.i:j], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("bad integer at offset %d", p.i)
			}
			p.i = j
			p.eat('L')
			dims = append(dims, d)
			p.space()
			if !p.eat(',') {
				p.space()
				if !p.eat(closer) {
					return nil, fmt.Errorf("expected ',' or '%c' at offset %d", closer, p.i)
				}
				return dims, nil
			}
		}
	}
	return nil, fmt.Errorf("unsupported value at offset %d", p.i)
}
