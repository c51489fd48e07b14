package precision

import (
	"strings"
	"testing"
)

func TestParseRoundTrip(t *testing.T) {
	rate := 0.25
	s := &Spec{Format: Format, Version: Version, Checked: Checked{Tensor: "conv1", Lo: -100, Hi: 90, OutlierRate: &rate},
		Maps: map[string]Map{"b": {Bits: 4, Min: -1.5, Max: 2}, "a": {Bits: 2, Min: 0, Max: 6}}}
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Index(string(data), `"a"`) > strings.Index(string(data), `"b"`) {
		t.Errorf("maps not in sorted order:\n%s", data)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := got.Marshal()
	if string(again) != string(data) {
		t.Errorf("round trip changed the document:\n%s\n%s", data, again)
	}
	if got.Summary() != `checked "conv1" [-100, 90], 2 maps: 1 at 2 bits, 1 at 4 bits` {
		t.Errorf("summary %q", got.Summary())
	}
}

func TestParseRefuses(t *testing.T) {
	const head = `{"format": "quantmcu_precision", "version": 1, "checked": {"tensor": "c", "lo": -5, "hi": 5}, "maps": `
	for _, c := range []struct{ doc, want string }{
		{head + `{"m": {"bits": 3, "min": 0, "max": 1}}}`, `map "m": bits 3, want 8, 4 or 2`},
		{head + `{"m": {"bits": 4, "min": 2, "max": 1}}}`, `min 2 > max 1`},
		{head + `{"m": {"bits": 4, "min": 0, "max": 0}}}`, `range [0, 0] is empty`},
		{head + `{"m": {"bits": 4, "min": 0, "max": 1e300}}}`, `beyond float32 scales`},
		{head + `{"m": {"bits": 4, "min": NaN, "max": 1}}}`, `invalid character`},
		{head + `{}} {}`, `trailing data`},
		{`{"format": "x", "version": 1, "checked": {"tensor": "c"}, "maps": {}}`, `format "x"`},
		{`{"format": "quantmcu_precision", "version": 2, "checked": {"tensor": "c"}, "maps": {}}`, `version 2`},
		{`{"format": "quantmcu_precision", "version": 1, "checked": {"tensor": ""}, "maps": {}}`, `checked.tensor is empty`},
		{`{"format": "quantmcu_precision", "version": 1, "checked": {"tensor": "c", "lo": -129}, "maps": {}}`, `want int8 codes`},
		{`{"format": "quantmcu_precision", "version": 1, "checked": {"tensor": "c", "outlier_rate": 2}, "maps": {}}`, `outlier_rate 2`},
		{`{"format": "quantmcu_precision", "version": 1, "checked": {"tensor": "c"}, "maps": {}, "x": 1}`, `unknown field "x"`},
		{strings.Repeat(" ", MaxBytes+1), `more than`},
	} {
		_, err := Parse([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.60s: err = %v, want %q", c.doc, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"format": "quantmcu_precision", "version": 1, "checked": {"tensor": "c", "lo": -5, "hi": 5}, "maps": {"m": {"bits": 4, "min": -1, "max": 1}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		if _, err := s.Marshal(); err != nil {
			t.Fatal(err)
		}
	})
}
