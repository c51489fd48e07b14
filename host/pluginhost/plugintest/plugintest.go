// Package plugintest builds the plugin executables the plugin host's tests run: the quantmcu
// binary (serving the built-in plugins), the strip example plugin and a test plugin installed
// under one name per behaviour (see testdata/testplugin).
package plugintest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Modes returns the behaviours of the test plugin, each installed as quantmcu-plugin-MODE.
func Modes() []string {
	return []string{"mark", "badinput", "exitstart", "hangstart", "garbage", "badproto", "panic", "crash", "hang", "badmodel"}
}

// Bins are the built executables.
type Bins struct {
	// Quantmcu is the quantmcu command (host and built-in plugins).
	Quantmcu string
	// Dir holds quantmcu-plugin-strip and quantmcu-plugin-MODE for every mode.
	Dir string
	// PIDDir receives MODE.pid files from the test plugins (pass it as QUANTMCU_TEST_PIDDIR).
	PIDDir string
}

// Build compiles everything into a temporary directory of t.
func Build(t testing.TB) *Bins {
	t.Helper()
	root := t.TempDir()
	b := &Bins{
		Quantmcu: filepath.Join(root, "bin", "quantmcu"),
		Dir:      filepath.Join(root, "plugins"),
		PIDDir:   filepath.Join(root, "pids"),
	}
	for _, d := range []string{filepath.Dir(b.Quantmcu), b.Dir, b.PIDDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	build := func(out, pkg string) {
		cmd := exec.Command(goTool, "build", "-o", out, pkg)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, msg)
		}
	}
	const mod = "github.com/quantmcu/quantmcu"
	build(b.Quantmcu, mod+"/host/cmd/quantmcu")
	build(filepath.Join(b.Dir, "quantmcu-plugin-strip"), mod+"/plugin/examples/quantmcu-plugin-strip")
	test := filepath.Join(root, "testplugin")
	build(test, mod+"/host/pluginhost/plugintest/testdata/testplugin")
	for _, m := range Modes() {
		if err := os.Link(test, filepath.Join(b.Dir, "quantmcu-plugin-"+m)); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// PIDs returns the pids the test plugins recorded so far, by mode.
func (b *Bins) PIDs(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	entries, err := os.ReadDir(b.PIDDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(b.PIDDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out[strings.TrimSuffix(e.Name(), ".pid")] = pid
	}
	return out
}

// Children returns the pids of the live or zombie child processes of this process (Linux
// only; nil elsewhere).
func Children(t testing.TB) []int {
	t.Helper()
	if runtime.GOOS != "linux" {
		return nil
	}
	self := os.Getpid()
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		pid, ppid, ok := parseStat(string(data))
		if ok && ppid == self {
			out = append(out, pid)
		}
	}
	return out
}

// parseStat reads pid and ppid from /proc/PID/stat ("pid (comm) state ppid ...", where comm
// may contain spaces and parentheses).
func parseStat(s string) (pid, ppid int, ok bool) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return 0, 0, false
	}
	fields := strings.Fields(s[end+1:])
	if len(fields) < 2 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(s[:open]))
	ppid, err2 := strconv.Atoi(fields[1])
	return pid, ppid, err1 == nil && err2 == nil
}
