package pluginhost

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func touch(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoverPrecedence(t *testing.T) {
	dir1, dir2, pathDir := t.TempDir(), t.TempDir(), t.TempDir()
	touch(t, filepath.Join(dir1, "quantmcu-plugin-strip"), 0o755)
	touch(t, filepath.Join(dir1, "quantmcu-plugin-quantmcu"), 0o755) // shadowed by the built-in
	touch(t, filepath.Join(dir1, "quantmcu-plugin-notexec"), 0o644)  // skipped: not executable
	touch(t, filepath.Join(dir1, "quantmcu-plugin-bad.name"), 0o755) // skipped: '.' in the name
	touch(t, filepath.Join(dir1, "unrelated"), 0o755)
	if err := os.Mkdir(filepath.Join(dir1, "quantmcu-plugin-dir"), 0o755); err != nil { // skipped: directory
		t.Fatal(err)
	}
	touch(t, filepath.Join(dir2, "quantmcu-plugin-strip"), 0o755) // shadowed by dir1
	touch(t, filepath.Join(dir2, "quantmcu-plugin-fold"), 0o755)
	touch(t, filepath.Join(pathDir, "quantmcu-plugin-fold"), 0o755) // shadowed by dir2
	touch(t, filepath.Join(pathDir, "quantmcu-plugin-extra"), 0o755)

	got, err := Discover(Discovery{
		Self: "/bin/quantmcu", Builtins: []string{"quantmcu"}, Dirs: []string{dir1, dir2},
		PathList: strings.Join([]string{"/nonexistent", pathDir}, string(os.PathListSeparator)),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Candidate{
		{Name: "extra", Path: filepath.Join(pathDir, "quantmcu-plugin-extra"), Source: FromPath},
		{Name: "fold", Path: filepath.Join(dir2, "quantmcu-plugin-fold"), Source: FromDir},
		{Name: "quantmcu", Path: "/bin/quantmcu", Args: []string{"serve-plugin", "quantmcu"}, Source: FromBuiltin},
		{Name: "strip", Path: filepath.Join(dir1, "quantmcu-plugin-strip"), Source: FromDir},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Discover:\n got %+v\nwant %+v", got, want)
	}
	if w := got[1].Where(); w != filepath.Join(dir2, "quantmcu-plugin-fold")+" (plugin dir)" {
		t.Errorf("Where = %q", w)
	}
	if _, err := Discover(Discovery{Dirs: []string{filepath.Join(dir1, "missing")}}); err == nil || !strings.Contains(err.Error(), "plugin dir") {
		t.Errorf("missing plugin dir: %v", err)
	}
	if _, err := Discover(Discovery{Dirs: []string{filepath.Join(dir1, "unrelated")}}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as plugin dir: %v", err)
	}
}

func TestStderrTailSummary(t *testing.T) {
	var tail stderrTail
	tail.Write([]byte(`{"@level":"info","@message":"starting","@timestamp":"x","model":"m"}` + "\n"))
	tail.Write([]byte("plain "))
	tail.Write([]byte("line\n\n"))
	tail.Write([]byte("last words"))
	if got, want := tail.Summary(), "info: starting model=m | plain line | last words"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	tail.Write([]byte("\npanic: boom\n\ngoroutine 1 [running]:\nmain.main()\n"))
	if got := tail.Summary(); got != "panic: boom" {
		t.Errorf("Summary after panic = %q", got)
	}
	var long stderrTail
	for range 200 {
		long.Write([]byte(strings.Repeat("x", 5000) + "\n"))
	}
	if n := len(long.lines); n != tailLines || len(long.lines[0]) != tailLineMax {
		t.Errorf("tail keeps %d lines of %d bytes", n, len(long.lines[0]))
	}
	if s := long.Summary(); len(s) > 700 {
		t.Errorf("summary of %d bytes", len(s))
	}
}
