// Package pluginhost finds, starts and drives quantmcu optimizer plugins: built-in ones (the
// quantmcu binary itself, started as `quantmcu serve-plugin NAME`), executables named
// quantmcu-plugin-NAME in plugin directories and on PATH. Every plugin runs in its own process
// under hashicorp/go-plugin; the host validates what plugins return, bounds every call by a
// timeout and never leaves a plugin process behind.
package pluginhost

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
)

// ExecutablePrefix starts the file name of every external plugin: quantmcu-plugin-NAME.
const ExecutablePrefix = "quantmcu-plugin-"

// Where a plugin was found.
const (
	FromBuiltin = "built-in"
	FromDir     = "plugin dir"
	FromPath    = "PATH"
)

// Candidate is a plugin that can be started.
type Candidate struct {
	Name string
	// Path is the executable; Args its arguments (built-ins: serve-plugin NAME).
	Path string
	Args []string
	// Source is FromBuiltin, FromDir or FromPath.
	Source string
}

// Where says where the candidate comes from, for listings.
func (c Candidate) Where() string {
	if c.Source == FromBuiltin {
		return FromBuiltin
	}
	return fmt.Sprintf("%s (%s)", c.Path, c.Source)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// ValidName reports whether name can name a plugin (it appears in --set NAME.OPTION=VALUE).
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Discovery says where to look for plugins.
type Discovery struct {
	// Self is the quantmcu executable that serves the built-in plugins (empty: none).
	Self string
	// Builtins names the plugins Self serves.
	Builtins []string
	// Dirs are plugin directories, searched in order; each must exist.
	Dirs []string
	// PathList is a PATH-style list of directories searched last; missing ones are skipped.
	PathList string
}

// Discover returns every plugin found, sorted by name. When a name occurs more than once,
// built-ins win over plugin directories, which win over PATH; earlier directories win.
func Discover(d Discovery) ([]Candidate, error) {
	seen := map[string]bool{}
	var out []Candidate
	add := func(c Candidate) {
		if !seen[c.Name] {
			seen[c.Name] = true
			out = append(out, c)
		}
	}
	if d.Self != "" {
		for _, name := range d.Builtins {
			add(Candidate{Name: name, Path: d.Self, Args: []string{"serve-plugin", name}, Source: FromBuiltin})
		}
	}
	for _, dir := range d.Dirs {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("plugin dir %s: %w", dir, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("plugin dir %s: not a directory", dir)
		}
		found, err := scanDir(dir, FromDir)
		if err != nil {
			return nil, fmt.Errorf("plugin dir %s: %w", dir, err)
		}
		for _, c := range found {
			add(c)
		}
	}
	for _, dir := range filepath.SplitList(d.PathList) {
		if dir == "" {
			continue
		}
		found, _ := scanDir(dir, FromPath) // PATH may list directories that do not exist
		for _, c := range found {
			add(c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// scanDir lists the executables named quantmcu-plugin-NAME in dir, by name.
func scanDir(dir, source string) ([]Candidate, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Candidate
	for _, e := range entries {
		file := e.Name()
		if !strings.HasPrefix(file, ExecutablePrefix) {
			continue
		}
		name := strings.TrimPrefix(file, ExecutablePrefix)
		if runtime.GOOS == "windows" {
			name = strings.TrimSuffix(name, ".exe")
		}
		if !ValidName(name) {
			continue
		}
		path := filepath.Join(dir, file)
		fi, err := os.Stat(path) // follows symlinks
		if err != nil || !fi.Mode().IsRegular() || (runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0) {
			continue
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			abs = path
		}
		out = append(out, Candidate{Name: name, Path: abs, Source: source})
	}
	return out, nil
}

// Find returns the candidate called name.
func Find(cands []Candidate, name string) (Candidate, bool) {
	for _, c := range cands {
		if c.Name == name {
			return c, true
		}
	}
	return Candidate{}, false
}
