package plugin

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// OptionType says how an option value is parsed. Values travel as strings in canonical form.
type OptionType int

// Option types (see OptionType in optimizer.proto for the canonical forms).
const (
	String OptionType = iota + 1
	Int
	Float
	Bool
	Size
)

// String returns the type's name as shown to users.
func (t OptionType) String() string {
	switch t {
	case String:
		return "string"
	case Int:
		return "int"
	case Float:
		return "float"
	case Bool:
		return "bool"
	case Size:
		return "size"
	}
	return fmt.Sprintf("type(%d)", int(t))
}

// Option declares one plugin option.
type Option struct {
	Name    string
	Type    OptionType
	Default string // canonical form
	Help    string
	// Allowed, when not empty, lists the only accepted values (canonical form).
	Allowed []string
}

var optionNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// Check reports whether the declaration itself is sound: a lower-case name, a known type,
// a default of that type and within Allowed.
func (o Option) Check() error {
	if !optionNameRE.MatchString(o.Name) {
		return fmt.Errorf("option name %q: want lower-case letters, digits and '-'", o.Name)
	}
	if o.Type < String || o.Type > Size {
		return fmt.Errorf("option %s: unknown type %d", o.Name, int(o.Type))
	}
	for _, a := range o.Allowed {
		if c, err := canonical(o.Type, a); err != nil || c != a {
			return fmt.Errorf("option %s: allowed value %q is not a canonical %s", o.Name, a, o.Type)
		}
	}
	if _, err := o.Canonical(o.Default); err != nil {
		return fmt.Errorf("option %s: bad default: %w", o.Name, err)
	}
	return nil
}

// Canonical parses value as the option's type, checks it against Allowed and returns the
// canonical form sent to the plugin.
func (o Option) Canonical(value string) (string, error) {
	c, err := canonical(o.Type, value)
	if err != nil {
		return "", err
	}
	if len(o.Allowed) > 0 && !slices.Contains(o.Allowed, c) {
		return "", fmt.Errorf("%q is not one of %s", value, strings.Join(o.Allowed, ", "))
	}
	return c, nil
}

func canonical(t OptionType, v string) (string, error) {
	s := strings.TrimSpace(v)
	switch t {
	case String:
		return v, nil
	case Int:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return "", fmt.Errorf("%q is not an integer", v)
		}
		return strconv.FormatInt(n, 10), nil
	case Float:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return "", fmt.Errorf("%q is not a finite number", v)
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	case Bool:
		switch strings.ToLower(s) {
		case "true", "1", "yes", "on":
			return "true", nil
		case "false", "0", "no", "off":
			return "false", nil
		}
		return "", fmt.Errorf("%q is not a boolean (true/false)", v)
	case Size:
		n, err := ParseSize(s)
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(n, 10), nil
	}
	return "", fmt.Errorf("unknown option type %d", int(t))
}

// sizeUnit returns the multiplier of a lower-case size unit; a bare K, M, G means KiB, MiB,
// GiB as embedded engineers write them.
func sizeUnit(u string) (int64, bool) {
	switch u {
	case "", "b":
		return 1, true
	case "kb":
		return 1000, true
	case "kib", "k":
		return 1 << 10, true
	case "mb":
		return 1000 * 1000, true
	case "mib", "m":
		return 1 << 20, true
	case "gb":
		return 1000 * 1000 * 1000, true
	case "gib", "g":
		return 1 << 30, true
	}
	return 0, false
}

var sizeRE = regexp.MustCompile(`^([0-9]+)\s*([A-Za-z]*)$`)

// ParseSize parses a byte count such as "262144", "256KiB", "256k" (KiB), "512kB" (1000s)
// or "1MiB".
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size (e.g. 262144, 256KiB, 1MiB)", s)
	}
	unit, ok := sizeUnit(strings.ToLower(m[2]))
	if !ok {
		return 0, fmt.Errorf("%q: unknown size unit %q (use B, KiB, MiB, GiB, kB, MB, GB)", s, m[2])
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * unit, nil
}

// Options maps option names to canonical values. Its accessors parse the canonical forms;
// they fail only for names the schema lacks or when a host sent a malformed value.
type Options map[string]string

func (o Options) get(name string) (string, error) {
	v, ok := o[name]
	if !ok {
		return "", BadInput(fmt.Errorf("option %q was not set", name))
	}
	return v, nil
}

// String returns the value of a string option.
func (o Options) String(name string) (string, error) { return o.get(name) }

// Int returns the value of an int option.
func (o Options) Int(name string) (int64, error) {
	v, err := o.get(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, BadInput(fmt.Errorf("option %s: %q is not an integer", name, v))
	}
	return n, nil
}

// Size returns the value of a size option in bytes.
func (o Options) Size(name string) (int64, error) { return o.Int(name) }

// Float returns the value of a float option.
func (o Options) Float(name string) (float64, error) {
	v, err := o.get(name)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, BadInput(fmt.Errorf("option %s: %q is not a number", name, v))
	}
	return f, nil
}

// Bool returns the value of a bool option.
func (o Options) Bool(name string) (bool, error) {
	v, err := o.get(name)
	if err != nil {
		return false, err
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, BadInput(fmt.Errorf("option %s: %q is not a boolean", name, v))
	}
	return b, nil
}

// Resolve checks the user's values against the schema in d and returns a complete option
// map: every option of the schema, user value or default, in canonical form. Errors name the
// offending option.
func Resolve(d *Description, values map[string]string) (Options, error) {
	out := make(Options, len(d.Options))
	for _, o := range d.Options {
		out[o.Name] = o.Default
	}
	for _, name := range sortedNames(values) {
		o, ok := d.Option(name)
		if !ok {
			known := make([]string, len(d.Options))
			for i, o := range d.Options {
				known[i] = o.Name
			}
			if len(known) == 0 {
				return nil, fmt.Errorf("%s.%s: plugin %s has no options", d.Name, name, d.Name)
			}
			return nil, fmt.Errorf("%s.%s: no such option (plugin %s has: %s)", d.Name, name, d.Name, strings.Join(known, ", "))
		}
		c, err := o.Canonical(values[name])
		if err != nil {
			return nil, fmt.Errorf("%s.%s (%s): %w", d.Name, name, o.Type, err)
		}
		out[name] = c
	}
	return out, nil
}

// CheckDescription reports whether a plugin's self-description is usable: a name, this
// protocol version and sound, uniquely named options.
func CheckDescription(d *Description) error {
	if d.Name == "" {
		return fmt.Errorf("plugin describes itself without a name")
	}
	if d.ProtocolVersion != ProtocolVersion {
		return fmt.Errorf("plugin %s speaks protocol version %d, this quantmcu speaks %d", d.Name, d.ProtocolVersion, ProtocolVersion)
	}
	seen := map[string]bool{}
	for _, o := range d.Options {
		if err := o.Check(); err != nil {
			return fmt.Errorf("plugin %s: %w", d.Name, err)
		}
		if seen[o.Name] {
			return fmt.Errorf("plugin %s: option %s declared twice", d.Name, o.Name)
		}
		seen[o.Name] = true
	}
	return nil
}

var artifactNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// ValidArtifactName reports whether name may name a report artifact: 1-100 letters, digits,
// '.', '-', '_', not starting with '.', '-' or '_' (it becomes part of a file name).
func ValidArtifactName(name string) bool { return artifactNameRE.MatchString(name) }

func sortedNames[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
