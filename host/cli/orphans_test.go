package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childrenOf returns the pids whose parent is pid (from /proc).
func childrenOf(pid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(data)
		end := strings.LastIndexByte(s, ')')
		if end < 0 {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			child, _ := strconv.Atoi(strings.Fields(s)[0])
			out = append(out, child)
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie (an orphan's zombie is already dead;
// whether PID 1 reaps it is not ours to test).
func alive(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

// testNoOrphansAfterSIGKILL kills quantmcu optimize with SIGKILL while its plugins run: the
// built-in rewriter, the example plugin, a plugin hung in Optimize and one hung before its
// handshake. None may outlive the host by more than a few seconds (issue 10).
func testNoOrphansAfterSIGKILL(t *testing.T, pe *pluginEnv) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	model := pluginTestModel(t, "person_detect.tflite")
	for _, c := range []struct {
		pipeline string
		plugins  int           // plugin processes to wait for before the kill
		after    time.Duration // then wait this long
	}{
		{"strip,quantmcu,hang", 3, time.Second}, // started together, then run in order until hang
		{"strip,quantmcu,hang", 1, 0},           // killed while the first plugin starts up
		{"hangstart", 1, time.Second},           // no SDK: only the kernel can end it
	} {
		out := filepath.Join(t.TempDir(), "out")
		cmd := exec.Command(pe.bins.Quantmcu, "optimize", model, "--plugin-dir", pe.bins.Dir,
			"--pipeline", c.pipeline, "--plugin-timeout", "5m", "-o", out)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var kids []int
		for i := 0; i < 600 && len(kids) < c.plugins; i++ {
			time.Sleep(50 * time.Millisecond)
			kids = childrenOf(cmd.Process.Pid)
		}
		if len(kids) < c.plugins {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%s: the host started %d plugin processes, want %d", c.pipeline, len(kids), c.plugins)
		}
		time.Sleep(c.after)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		deadline := time.Now().Add(5 * time.Second)
		for _, pid := range kids {
			for alive(pid) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if alive(pid) {
				t.Errorf("%s: plugin pid %d outlived its SIGKILLed host by 5 s", c.pipeline, pid)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: output written", c.pipeline)
		}
	}
}
