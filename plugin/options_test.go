package plugin

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "262144": 262144, "256KiB": 262144, "256k": 262144,
		"512kB": 512000, "1MiB": 1 << 20, "2 MB": 2000000, "1GiB": 1 << 30} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "12 parsecs", "99999999999999999999", "9223372036854775807GiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

func TestResolve(t *testing.T) {
	d := sampleDescription()
	if err := CheckDescription(&Description{Name: "x", ProtocolVersion: ProtocolVersion, Options: d.Options}); err != nil {
		t.Fatal(err)
	}
	got, err := Resolve(&d, map[string]string{"i": " 42", "f": "1e-3", "b": "YES"})
	if err != nil {
		t.Fatal(err)
	}
	if got["i"] != "42" || got["f"] != "0.001" || got["b"] != "true" || got["s"] != "x" || got["sram"] != "262144" {
		t.Fatalf("Resolve = %v", got)
	}
	for values, wantErr := range map[string]string{
		"s=z":     `sample.s (string): "z" is not one of x, y`,
		"i=1.5":   `sample.i (int): "1.5" is not an integer`,
		"f=NaN":   `sample.f (float): "NaN" is not a finite number`,
		"b=maybe": `sample.b (bool): "maybe" is not a boolean (true/false)`,
		"nope=1":  `sample.nope: no such option (plugin sample has: s, i, f, b, sram)`,
	} {
		k, v, _ := strings.Cut(values, "=")
		_, err := Resolve(&d, map[string]string{k: v})
		if err == nil || err.Error() != wantErr {
			t.Errorf("Resolve(%s) error = %v, want %q", values, err, wantErr)
		}
	}
}

func TestCheckDescription(t *testing.T) {
	for _, d := range []Description{
		{Name: "", ProtocolVersion: ProtocolVersion},
		{Name: "x", ProtocolVersion: 2},
		{Name: "x", ProtocolVersion: ProtocolVersion, Options: []Option{{Name: "Bad", Type: String}}},
		{Name: "x", ProtocolVersion: ProtocolVersion, Options: []Option{{Name: "a", Type: Int, Default: "x"}}},
		{Name: "x", ProtocolVersion: ProtocolVersion, Options: []Option{{Name: "a", Type: 9}}},
		{Name: "x", ProtocolVersion: ProtocolVersion, Options: []Option{{Name: "a", Type: String}, {Name: "a", Type: String}}},
		{Name: "x", ProtocolVersion: ProtocolVersion, Options: []Option{{Name: "a", Type: Bool, Default: "true", Allowed: []string{"yes"}}}},
	} {
		if err := CheckDescription(&d); err == nil {
			t.Errorf("CheckDescription(%+v) accepted it", d)
		}
	}
}

func TestValidArtifactName(t *testing.T) {
	for name, want := range map[string]bool{"summary.csv": true, "per-layer.csv": true, "memory.svg": true,
		"": false, "../x": false, "a/b": false, ".hidden": false, "-x": false, strings.Repeat("a", 101): false} {
		if ValidArtifactName(name) != want {
			t.Errorf("ValidArtifactName(%q) = %v", name, !want)
		}
	}
}
