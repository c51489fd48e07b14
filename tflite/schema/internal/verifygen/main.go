// Command verifygen reads a FlatBuffers schema (schema.fbs) and writes the static table
// descriptions that drive schema.Verify (verify_tables_generated.go).
//
// It understands the subset of the schema language that describes a binary layout: tables,
// structs, enums with their underlying types, unions, vectors, the id, deprecated and
// required attributes, root_type. Constructs that would change the
// layout in ways the verifier does not model (fixed-size arrays in tables, vectors of
// unions, includes) are rejected rather than silently mis-described.
//
// Run it through `go generate ./tflite/schema`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"os"
	"strconv"
	"strings"

	"github.com/quantmcu/quantmcu/tflite/atomicfile"
)

func main() {
	in := flag.String("schema", "schema.fbs", "FlatBuffers schema to read")
	out := flag.String("out", "verify_tables_generated.go", "Go file to write")
	pkg := flag.String("package", "schema", "Go package name of the output")
	flag.Parse()
	if err := run(*in, *out, *pkg); err != nil {
		fmt.Fprintln(os.Stderr, "verifygen:", err)
		os.Exit(1)
	}
}

func run(in, out, pkg string) error {
	src, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	s, err := parse(string(src))
	if err != nil {
		return fmt.Errorf("%s:%w", in, err)
	}
	code, err := generate(s, pkg, in)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return atomicfile.WriteFile(out, code, 0o644)
}

// ---- schema model ----

type schema struct {
	decls map[string]*decl
	order []*decl // declaration order
	root  string
}

type declKind int

const (
	declTable declKind = iota
	declStruct
	declEnum
	declUnion
)

type decl struct {
	kind   declKind
	name   string
	line   int
	fields []*field // tables and structs
	// enums: underlying scalar type; unions: members by type value.
	base    string
	members map[int]string

	// resolved layout of structs
	size, align int
	resolving   bool
}

type field struct {
	name       string
	typ        typeRef
	id         int // -1 when not given
	deprecated bool
	required   bool
	line       int
}

// typeRef is a field type: a named type, optionally wrapped in a vector or a fixed array.
type typeRef struct {
	name   string
	vector bool
	array  int // fixed length for [T:N], structs only
}

// scalarSizes maps the schema's scalar type names to their byte sizes.
var scalarSizes = map[string]int{
	"bool": 1, "byte": 1, "ubyte": 1, "int8": 1, "uint8": 1,
	"short": 2, "ushort": 2, "int16": 2, "uint16": 2,
	"int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4,
	"long": 8, "ulong": 8, "int64": 8, "uint64": 8, "double": 8, "float64": 8,
}

// ---- lexer ----

type token struct {
	kind byte // 'i' identifier, 'n' number, 's' string, or the punctuation character
	text string
	line int
}

func lex(src string) ([]token, error) {
	var toks []token
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("%d: unterminated comment", line)
			}
			line += strings.Count(src[i:i+2+end], "\n")
			i += end + 4
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' && src[j] != '\n' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) || src[j] != '"' {
				return nil, fmt.Errorf("%d: unterminated string", line)
			}
			toks = append(toks, token{'s', src[i+1 : j], line})
			i = j + 1
		case isIdentStart(c):
			j := i
			for j < len(src) && (isIdentStart(src[j]) || isDigit(src[j]) || src[j] == '.') {
				j++
			}
			toks = append(toks, token{'i', src[i:j], line})
			i = j
		case isDigit(c) || ((c == '-' || c == '+') && i+1 < len(src) && (isDigit(src[i+1]) || src[i+1] == '.')):
			j := i + 1
			for j < len(src) && (isIdentStart(src[j]) || isDigit(src[j]) || src[j] == '.' ||
				((src[j] == '-' || src[j] == '+') && (src[j-1] == 'e' || src[j-1] == 'E'))) {
				j++
			}
			toks = append(toks, token{'n', src[i:j], line})
			i = j
		case strings.ContainsRune("{}()[]:;,=", rune(c)):
			toks = append(toks, token{c, string(c), line})
			i++
		default:
			return nil, fmt.Errorf("%d: unexpected character %q", line, c)
		}
	}
	return toks, nil
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }

// ---- parser ----

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	line := 0
	if len(p.toks) > 0 {
		line = p.toks[len(p.toks)-1].line
	}
	return token{kind: 0, text: "end of file", line: line}
}

func (p *parser) next() token { t := p.peek(); p.pos++; return t }

func (p *parser) accept(kind byte) bool {
	if p.peek().kind == kind {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(kind byte) (token, error) {
	t := p.next()
	if t.kind != kind {
		want := string(kind)
		switch kind {
		case 'i':
			want = "identifier"
		case 'n':
			want = "number"
		case 's':
			want = "string"
		}
		return t, fmt.Errorf("%d: expected %s, found %q", t.line, want, t.text)
	}
	return t, nil
}

func parse(src string) (*schema, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	s := &schema{decls: map[string]*decl{}}
	for p.pos < len(p.toks) {
		kw, err := p.expect('i')
		if err != nil {
			return nil, err
		}
		switch kw.text {
		case "namespace", "file_extension", "attribute", "root_type", "file_identifier":
			arg := p.next()
			if err := p.expectSemicolon(); err != nil {
				return nil, err
			}
			switch kw.text {
			case "root_type":
				s.root = arg.text
			case "file_identifier":
				if arg.kind != 's' || len(arg.text) != 4 {
					return nil, fmt.Errorf("%d: file_identifier must be a 4-character string", kw.line)
				}
			}
		case "table", "struct", "enum", "union":
			d, err := p.parseDecl(kw)
			if err != nil {
				return nil, err
			}
			if _, dup := s.decls[d.name]; dup {
				return nil, fmt.Errorf("%d: %s declared twice", kw.line, d.name)
			}
			s.decls[d.name] = d
			s.order = append(s.order, d)
		default:
			return nil, fmt.Errorf("%d: unsupported declaration %q", kw.line, kw.text)
		}
	}
	if s.root == "" {
		return nil, fmt.Errorf(" no root_type")
	}
	return s, nil
}

func (p *parser) expectSemicolon() error {
	_, err := p.expect(';')
	return err
}

// parseAttrs reads an optional parenthesised attribute list into name -> value ("" if none).
func (p *parser) parseAttrs() (map[string]string, error) {
	attrs := map[string]string{}
	if !p.accept('(') {
		return attrs, nil
	}
	for !p.accept(')') {
		name, err := p.expect('i')
		if err != nil {
			return nil, err
		}
		val := ""
		if p.accept(':') {
			val = p.next().text
		}
		attrs[name.text] = val
		if !p.accept(',') && p.peek().kind != ')' {
			t := p.peek()
			return nil, fmt.Errorf("%d: expected , or ) in attributes, found %q", t.line, t.text)
		}
	}
	return attrs, nil
}

func (p *parser) parseDecl(kw token) (*decl, error) {
	name, err := p.expect('i')
	if err != nil {
		return nil, err
	}
	d := &decl{name: name.text, line: name.line}
	switch kw.text {
	case "table":
		d.kind = declTable
	case "struct":
		d.kind = declStruct
	case "enum":
		d.kind = declEnum
	case "union":
		d.kind = declUnion
	}
	if d.kind == declEnum {
		if _, err := p.expect(':'); err != nil {
			return nil, err
		}
		base, err := p.expect('i')
		if err != nil {
			return nil, err
		}
		if scalarSizes[base.text] == 0 || base.text == "float" || base.text == "double" {
			return nil, fmt.Errorf("%d: enum %s: underlying type %q is not an integer type", base.line, d.name, base.text)
		}
		d.base = base.text
	}
	if _, err := p.parseAttrs(); err != nil { // e.g. table X (deprecated)
		return nil, err
	}
	if _, err := p.expect('{'); err != nil {
		return nil, err
	}
	switch d.kind {
	case declEnum, declUnion:
		return d, p.parseMembers(d)
	default:
		return d, p.parseFields(d)
	}
}

// parseMembers reads enum values or union members up to the closing brace.
func (p *parser) parseMembers(d *decl) error {
	d.members = map[int]string{}
	next := 0
	if d.kind == declUnion {
		next = 1 // 0 is NONE
	}
	for !p.accept('}') {
		name, err := p.expect('i')
		if err != nil {
			return err
		}
		member := name.text
		if d.kind == declUnion && p.accept(':') { // alias: Type
			t, err := p.expect('i')
			if err != nil {
				return err
			}
			member = t.text
		}
		if p.accept('=') {
			v, err := p.expect('n')
			if err != nil {
				return err
			}
			n, err := strconv.ParseInt(v.text, 0, 64)
			if err != nil {
				return fmt.Errorf("%d: %s.%s: bad value %q", v.line, d.name, name.text, v.text)
			}
			next = int(n)
		}
		if _, err := p.parseAttrs(); err != nil {
			return err
		}
		if d.kind == declUnion {
			if next < 1 || next > 255 {
				return fmt.Errorf("%d: union %s: member %s has type value %d outside 1..255", name.line, d.name, name.text, next)
			}
			if _, dup := d.members[next]; dup {
				return fmt.Errorf("%d: union %s: type value %d used twice", name.line, d.name, next)
			}
			d.members[next] = member
		}
		next++
		if !p.accept(',') && p.peek().kind != '}' {
			t := p.peek()
			return fmt.Errorf("%d: expected , or } in %s, found %q", t.line, d.name, t.text)
		}
	}
	return nil
}

func (p *parser) parseFields(d *decl) error {
	for !p.accept('}') {
		name, err := p.expect('i')
		if err != nil {
			return err
		}
		if _, err := p.expect(':'); err != nil {
			return err
		}
		f := &field{name: name.text, id: -1, line: name.line}
		if p.accept('[') {
			elem, err := p.expect('i')
			if err != nil {
				return err
			}
			f.typ = typeRef{name: elem.text, vector: true}
			if p.accept(':') {
				n, err := p.expect('n')
				if err != nil {
					return err
				}
				length, err := strconv.Atoi(n.text)
				if err != nil || length <= 0 {
					return fmt.Errorf("%d: bad array length %q", n.line, n.text)
				}
				f.typ = typeRef{name: elem.text, array: length}
			}
			if _, err := p.expect(']'); err != nil {
				return err
			}
		} else {
			t, err := p.expect('i')
			if err != nil {
				return err
			}
			f.typ = typeRef{name: t.text}
		}
		if p.accept('=') {
			p.next() // default value: irrelevant to the layout
		}
		attrs, err := p.parseAttrs()
		if err != nil {
			return err
		}
		if v, ok := attrs["id"]; ok {
			id, err := strconv.Atoi(v)
			if err != nil || id < 0 {
				return fmt.Errorf("%d: %s.%s: bad id %q", f.line, d.name, f.name, v)
			}
			f.id = id
		}
		_, f.deprecated = attrs["deprecated"]
		_, f.required = attrs["required"]
		if err := p.expectSemicolon(); err != nil {
			return err
		}
		d.fields = append(d.fields, f)
	}
	return nil
}

// ---- resolution ----

// fieldDesc mirrors the generated Go literal of one vtable slot.
type fieldDesc struct {
	name     string
	kind     string // Go constant name of the kind
	size     int
	align    int
	ref      string // Go constant naming the referenced table or union
	required bool
}

type tableOut struct {
	name   string
	fields []fieldDesc
}

type unionOut struct {
	name    string
	members []string // by type value; "" for none
}

func (s *schema) lookup(name string, line int) (*decl, error) {
	d, ok := s.decls[name]
	if !ok {
		return nil, fmt.Errorf("line %d: unknown type %q", line, name)
	}
	return d, nil
}

// structLayout computes a struct's size and alignment with FlatBuffers padding rules.
func (s *schema) structLayout(d *decl) (size, align int, err error) {
	if d.size > 0 {
		return d.size, d.align, nil
	}
	if d.resolving {
		return 0, 0, fmt.Errorf("line %d: struct %s contains itself", d.line, d.name)
	}
	d.resolving = true
	defer func() { d.resolving = false }()
	align = 1
	for _, f := range d.fields {
		if f.typ.vector {
			return 0, 0, fmt.Errorf("line %d: struct %s: field %s: structs cannot hold vectors", f.line, d.name, f.name)
		}
		fs, fa, err := s.inlineLayout(f.typ.name, f.line)
		if err != nil {
			return 0, 0, err
		}
		n := 1
		if f.typ.array > 0 {
			n = f.typ.array
		}
		size = (size + fa - 1) / fa * fa
		size += fs * n
		align = max(align, fa)
	}
	size = (size + align - 1) / align * align
	if size == 0 {
		return 0, 0, fmt.Errorf("line %d: struct %s is empty", d.line, d.name)
	}
	d.size, d.align = size, align
	return size, align, nil
}

// inlineLayout gives size and alignment of a scalar, enum or struct stored inline.
func (s *schema) inlineLayout(name string, line int) (size, align int, err error) {
	if n := scalarSizes[name]; n > 0 {
		return n, n, nil
	}
	d, err := s.lookup(name, line)
	if err != nil {
		return 0, 0, err
	}
	switch d.kind {
	case declEnum:
		n := scalarSizes[d.base]
		return n, n, nil
	case declStruct:
		return s.structLayout(d)
	}
	return 0, 0, fmt.Errorf("line %d: %s cannot be stored inline", line, name)
}

func tableConst(name string) string { return "tbl" + name }
func unionConst(name string) string { return "uni" + name }

// slots lays out a table's fields by vtable slot: a union takes two slots (type, then value).
func (s *schema) slots(d *decl) ([]fieldDesc, error) {
	withIDs := 0
	for _, f := range d.fields {
		if f.id >= 0 {
			withIDs++
		}
	}
	if withIDs != 0 && withIDs != len(d.fields) {
		return nil, fmt.Errorf("line %d: table %s: either all fields or none must have an id", d.line, d.name)
	}
	var bySlot []*field
	put := func(slot int, f *field) error {
		for len(bySlot) <= slot {
			bySlot = append(bySlot, nil)
		}
		if bySlot[slot] != nil {
			return fmt.Errorf("line %d: table %s: field %s reuses slot %d of %s", f.line, d.name, f.name, slot, bySlot[slot].name)
		}
		bySlot[slot] = f
		return nil
	}
	next := 0
	for _, f := range d.fields {
		isUnion := false
		if !f.typ.vector && f.typ.array == 0 {
			if u, ok := s.decls[f.typ.name]; ok && u.kind == declUnion {
				isUnion = true
			}
		}
		slot := next
		if f.id >= 0 {
			slot = f.id
			if isUnion {
				if f.id == 0 {
					return nil, fmt.Errorf("line %d: union field %s.%s needs id >= 1 (its type field takes id-1)", f.line, d.name, f.name)
				}
				slot = f.id - 1
			}
		}
		if isUnion {
			typ := &field{name: f.name + "_type", typ: typeRef{name: "ubyte"}, id: slot, deprecated: f.deprecated, line: f.line}
			if err := put(slot, typ); err != nil {
				return nil, err
			}
			slot++
		}
		if err := put(slot, f); err != nil {
			return nil, err
		}
		next = slot + 1
	}
	out := make([]fieldDesc, len(bySlot))
	for i, f := range bySlot {
		if f == nil {
			return nil, fmt.Errorf("line %d: table %s: field ids leave slot %d unused", d.line, d.name, i)
		}
		fd, err := s.describe(d, f)
		if err != nil {
			return nil, err
		}
		out[i] = fd
	}
	if len(out) > (0xffff-4)/2 {
		return nil, fmt.Errorf("line %d: table %s has too many fields", d.line, d.name)
	}
	return out, nil
}

func (s *schema) describe(table *decl, f *field) (fieldDesc, error) {
	fd := fieldDesc{name: f.name, required: f.required}
	where := fmt.Sprintf("line %d: %s.%s", f.line, table.name, f.name)
	if f.deprecated {
		fd.kind = "kindDeprecated"
		return fd, nil
	}
	if f.typ.array > 0 {
		return fd, fmt.Errorf("%s: fixed-size arrays are only allowed in structs", where)
	}
	name := f.typ.name
	if f.typ.vector {
		switch {
		case name == "string":
			fd.kind = "kindStringVector"
			return fd, nil
		case scalarSizes[name] > 0:
			fd.kind, fd.size = "kindScalarVector", scalarSizes[name]
			return fd, nil
		}
		d, err := s.lookup(name, f.line)
		if err != nil {
			return fd, err
		}
		switch d.kind {
		case declEnum:
			fd.kind, fd.size = "kindScalarVector", scalarSizes[d.base]
		case declStruct:
			size, align, err := s.structLayout(d)
			if err != nil {
				return fd, err
			}
			fd.kind, fd.size, fd.align = "kindStructVector", size, align
		case declTable:
			fd.kind, fd.ref = "kindTableVector", tableConst(name)
		default:
			return fd, fmt.Errorf("%s: vectors of unions are not supported", where)
		}
		return fd, nil
	}
	switch {
	case name == "string":
		fd.kind = "kindString"
		return fd, nil
	case scalarSizes[name] > 0:
		fd.kind, fd.size, fd.align = "kindScalar", scalarSizes[name], scalarSizes[name]
		return fd, nil
	}
	d, err := s.lookup(name, f.line)
	if err != nil {
		return fd, err
	}
	switch d.kind {
	case declEnum:
		n := scalarSizes[d.base]
		fd.kind, fd.size, fd.align = "kindScalar", n, n
	case declStruct:
		size, align, err := s.structLayout(d)
		if err != nil {
			return fd, err
		}
		fd.kind, fd.size, fd.align = "kindStruct", size, align
	case declTable:
		fd.kind, fd.ref = "kindTable", tableConst(name)
	case declUnion:
		fd.kind, fd.ref = "kindUnion", unionConst(name)
	}
	return fd, nil
}

// ---- output ----

func generate(s *schema, pkg, srcName string) ([]byte, error) {
	root, err := s.lookup(s.root, 0)
	if err != nil {
		return nil, fmt.Errorf("root_type: %w", err)
	}
	if root.kind != declTable {
		return nil, fmt.Errorf("root_type %s is not a table", s.root)
	}
	var tables []tableOut
	var unions []unionOut
	for _, d := range s.order {
		switch d.kind {
		case declTable:
			fields, err := s.slots(d)
			if err != nil {
				return nil, err
			}
			tables = append(tables, tableOut{d.name, fields})
		case declUnion:
			u := unionOut{name: d.name}
			for v, m := range d.members {
				md, err := s.lookup(m, d.line)
				if err != nil {
					return nil, err
				}
				if md.kind != declTable {
					return nil, fmt.Errorf("line %d: union %s: member %s is not a table", d.line, d.name, m)
				}
				for len(u.members) <= v {
					u.members = append(u.members, "")
				}
				u.members[v] = m
			}
			unions = append(unions, u)
		case declStruct:
			if _, _, err := s.structLayout(d); err != nil {
				return nil, err
			}
		}
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by verifygen from %s; DO NOT EDIT.\n\n", srcName)
	fmt.Fprintf(&b, "package %s\n\n", pkg)
	fmt.Fprintf(&b, "// verifyRoot is the schema's root_type.\nconst verifyRoot = %s\n\n", tableConst(s.root))
	b.WriteString("// Indices of the schema's tables in verifyTables.\nconst (\n")
	for i, t := range tables {
		if i == 0 {
			fmt.Fprintf(&b, "\t%s tableIndex = iota\n", tableConst(t.name))
		} else {
			fmt.Fprintf(&b, "\t%s\n", tableConst(t.name))
		}
	}
	b.WriteString(")\n\n")
	if len(unions) > 0 {
		b.WriteString("// Indices of the schema's unions in verifyUnions.\nconst (\n")
		for i, u := range unions {
			if i == 0 {
				fmt.Fprintf(&b, "\t%s unionIndex = iota\n", unionConst(u.name))
			} else {
				fmt.Fprintf(&b, "\t%s\n", unionConst(u.name))
			}
		}
		b.WriteString(")\n\n")
	}
	b.WriteString("// verifyTables describes every table's vtable slots in order. Read-only.\n")
	b.WriteString("var verifyTables = [...]tableDesc{\n")
	for _, t := range tables {
		fmt.Fprintf(&b, "\t%s: {name: %q, fields: []fieldDesc{", tableConst(t.name), t.name)
		if len(t.fields) > 0 {
			b.WriteString("\n")
		}
		for _, f := range t.fields {
			fmt.Fprintf(&b, "\t\t{name: %q, kind: %s", f.name, f.kind)
			if f.size > 0 {
				fmt.Fprintf(&b, ", size: %d", f.size)
			}
			if f.align > 0 {
				fmt.Fprintf(&b, ", align: %d", f.align)
			}
			if f.ref != "" {
				fmt.Fprintf(&b, ", ref: int(%s)", f.ref)
			}
			if f.required {
				b.WriteString(", required: true")
			}
			b.WriteString("},\n")
		}
		b.WriteString("\t}},\n")
	}
	b.WriteString("}\n\n")
	b.WriteString("// verifyUnions lists each union's member tables by type value (-1: no member). Read-only.\n")
	b.WriteString("var verifyUnions = [...]unionDesc{\n")
	for _, u := range unions {
		fmt.Fprintf(&b, "\t%s: {name: %q, members: []tableIndex{", unionConst(u.name), u.name)
		for v, m := range u.members {
			if v%4 == 0 {
				b.WriteString("\n\t\t")
			} else {
				b.WriteString(" ")
			}
			if m == "" {
				b.WriteString("-1,")
			} else {
				fmt.Fprintf(&b, "%s,", tableConst(m))
			}
		}
		b.WriteString("\n\t}},\n")
	}
	b.WriteString("}\n")
	code, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting generated code: %w", err)
	}
	return code, nil
}
