package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestGeneratedFileIsCurrent(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "schema.fbs"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := parse(string(src))
	if err != nil {
		t.Fatal(err)
	}
	got, err := generate(s, "schema", "schema.fbs")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "verify_tables_generated.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("verify_tables_generated.go is stale: run go generate ./tflite/schema")
	}
}

const layoutSchema = `
// comment
namespace test;
enum Small : byte { A, B = 5, C }
enum Wide : ulong { X = 1 }
struct Vec3 { x: float; y: float; z: float; }
struct Mixed { a: byte; b: long; c: short; v: Vec3; }   /* 1+7 pad, 8, 2+2 pad, 12 -> 32 */
table Leaf { n: int = 7; }
table Other (deprecated) { }
union Pick { Leaf, Renamed: Other, Third: Leaf = 9 }
table Root {
  a: Small;
  b: [Wide];
  gone: string (deprecated);
  p: Pick;
  s: Mixed;
  vs: [Vec3];
  names: [string] (required);
  leaves: [Leaf];
  one: Leaf;
  flag: bool = true;
}
table WithIds {
  late: int (id: 2);
  u: Pick (id: 1);
}
root_type Root;
`

func TestLayout(t *testing.T) {
	s, err := parse(layoutSchema)
	if err != nil {
		t.Fatal(err)
	}
	size, align, err := s.structLayout(s.decls["Mixed"])
	if err != nil || size != 32 || align != 8 {
		t.Fatalf("Mixed: size %d align %d err %v, want 32, 8", size, align, err)
	}
	got, err := s.slots(s.decls["Root"])
	if err != nil {
		t.Fatal(err)
	}
	want := []fieldDesc{
		{name: "a", kind: "kindScalar", size: 1, align: 1},
		{name: "b", kind: "kindScalarVector", size: 8},
		{name: "gone", kind: "kindDeprecated"},
		{name: "p_type", kind: "kindScalar", size: 1, align: 1},
		{name: "p", kind: "kindUnion", ref: "uniPick"},
		{name: "s", kind: "kindStruct", size: 32, align: 8},
		{name: "vs", kind: "kindStructVector", size: 12, align: 4},
		{name: "names", kind: "kindStringVector", required: true},
		{name: "leaves", kind: "kindTableVector", ref: "tblLeaf"},
		{name: "one", kind: "kindTable", ref: "tblLeaf"},
		{name: "flag", kind: "kindScalar", size: 1, align: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Root slots:\n got %+v\nwant %+v", got, want)
	}
	// With ids, a union's type takes the slot before its id.
	got, err = s.slots(s.decls["WithIds"])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].name != "u_type" || got[1].name != "u" || got[2].name != "late" {
		t.Fatalf("WithIds slots: %+v", got)
	}
	code, err := generate(s, "x", "test.fbs")
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{
		"uniPick: {name: \"Pick\", members: []tableIndex{\n\t\t-1, tblLeaf, tblOther, -1,",
		"-1, tblLeaf,\n\t}}",
		"const verifyRoot = tblRoot",
	} {
		if !strings.Contains(string(code), frag) {
			t.Errorf("generated code lacks %q:\n%s", frag, code)
		}
	}
}

func TestRejectsWhatItCannotDescribe(t *testing.T) {
	cases := map[string]string{
		"table T { a: [U]; } union U { T } root_type T;":                  "vectors of unions",
		"table T { a: [int:3]; } root_type T;":                            "fixed-size arrays",
		"include \"x.fbs\"; table T {} root_type T;":                      "unsupported declaration",
		"table T { a: Nope; } root_type T;":                               "unknown type",
		"struct S { s: S; } table T { a: S; } root_type T;":               "contains itself",
		"table T { a: int (id: 1); b: int; } root_type T;":                "all fields or none",
		"table T { a: int (id: 1); } root_type T;":                        "slot 0 unused",
		"enum E : float { A } table T { e: E; } root_type T;":             "not an integer type",
		"table T { a: int; }":                                             "no root_type",
		"union U { A } table A {} table T { u: U (id: 0); } root_type T;": "needs id >= 1",
	}
	for src, want := range cases {
		s, err := parse(src)
		if err == nil {
			_, err = generate(s, "x", "test.fbs")
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s\n  error %v, want one containing %q", src, err, want)
		}
	}
}
