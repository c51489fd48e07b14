package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantmcu/quantmcu/host/pluginhost/plugintest"
	"github.com/quantmcu/quantmcu/tflite"
)

// pluginEnv is a test's plugin world: built binaries and a controlled environment.
type pluginEnv struct {
	bins *plugintest.Bins
	// good holds only well-behaved plugins (strip, mark), for listings.
	good string
}

// newPluginEnv builds the plugin binaries and points PATH and $QUANTMCU_PLUGIN_DIR at
// directories the test controls.
func newPluginEnv(t *testing.T) *pluginEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("builds plugin binaries; skipped with -short")
	}
	bins := plugintest.Build(t)
	good := t.TempDir()
	for _, n := range []string{"strip", "mark"} {
		if err := os.Link(filepath.Join(bins.Dir, "quantmcu-plugin-"+n), filepath.Join(good, "quantmcu-plugin-"+n)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvPluginDir, "")
	t.Setenv("QUANTMCU_TEST_PIDDIR", bins.PIDDir)
	return &pluginEnv{bins: bins, good: good}
}

// TestPluginCommands covers `quantmcu plugins` and `quantmcu optimize` with real plugin
// processes; the binaries are built once for all subtests.
func TestPluginCommands(t *testing.T) {
	pe := newPluginEnv(t)
	t.Run("lists", func(t *testing.T) { testPluginsLists(t, pe) })
	t.Run("pipeline", func(t *testing.T) { testOptimizePipelineEqualsByHand(t, pe) })
	t.Run("default", func(t *testing.T) { testOptimizeDefaultPipeline(t, pe) })
	t.Run("broken", func(t *testing.T) { testOptimizeBrokenPlugins(t, pe) })
	t.Run("usage", func(t *testing.T) { testOptimizeUsageErrors(t, pe) })
	t.Run("signals", func(t *testing.T) { testOptimizeInterrupted(t, pe) })
	t.Run("precision", func(t *testing.T) { testOptimizePrecision(t, pe) })
	t.Run("calib", func(t *testing.T) { testOptimizeCalib(t, pe) })
	t.Run("sigkill", func(t *testing.T) { testNoOrphansAfterSIGKILL(t, pe) })
}

// run runs the CLI in-process with the built quantmcu as the built-in plugin server.
func (pe *pluginEnv) run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Main(args, &Env{Stdout: &o, Stderr: &e, Self: pe.bins.Quantmcu})
	return code, o.String(), e.String()
}

// noProcessesLeft fails if a child process of the test (live or zombie) or a recorded
// plugin process still exists.
func (pe *pluginEnv) noProcessesLeft(t *testing.T) {
	t.Helper()
	if kids := plugintest.Children(t); len(kids) > 0 {
		t.Errorf("child processes left behind: %v", kids)
	}
	for mode, pid := range pe.bins.PIDs(t) {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
			t.Errorf("plugin %s (pid %d) still exists", mode, pid)
		}
	}
}

func pluginTestModel(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "data", "models", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s absent", p)
	}
	return p
}

func testPluginsLists(t *testing.T, pe *pluginEnv) {
	code, out, errOut := pe.run("plugins", "--plugin-dir", pe.good, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var infos []pluginInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	byName := map[string]pluginInfo{}
	pids := map[int]string{}
	for _, in := range infos {
		byName[in.Name] = in
		if in.Error != "" {
			t.Errorf("%s: %s", in.Name, in.Error)
		}
		if in.PID <= 0 || in.PID == os.Getpid() {
			t.Errorf("%s: pid %d is not a process of its own (host pid %d)", in.Name, in.PID, os.Getpid())
		}
		if other, dup := pids[in.PID]; dup {
			t.Errorf("%s and %s share pid %d", in.Name, other, in.PID)
		}
		pids[in.PID] = in.Name
	}
	if q := byName["quantmcu"]; q.Source != "built-in" || q.Version != Version || q.Protocol != 1 || len(q.Options) != 19 {
		t.Errorf("quantmcu: %+v", q)
	}
	if s := byName["strip"]; s.Source != "plugin dir" || s.Version != "1.0.0" || !strings.HasSuffix(s.Path, "quantmcu-plugin-strip") {
		t.Errorf("strip: %+v", s)
	}
	pe.noProcessesLeft(t)

	// The table names versions and origins; PATH and $QUANTMCU_PLUGIN_DIR are searched too.
	t.Setenv("PATH", pe.good)
	code, out, errOut = pe.run("plugins")
	if code != 0 || !regexp.MustCompile(`(?m)^quantmcu +`+regexp.QuoteMeta(Version)+` +built-in +patch-based`).MatchString(out) ||
		!strings.Contains(out, filepath.Join(pe.good, "quantmcu-plugin-strip")+" (PATH)") {
		t.Errorf("exit %d, table:\n%s%s", code, out, errOut)
	}
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvPluginDir, pe.good)
	if code, out, _ = pe.run("plugins"); code != 0 || !strings.Contains(out, "(plugin dir)") {
		t.Errorf("$%s not searched:\n%s", EnvPluginDir, out)
	}

	code, out, errOut = pe.run("plugins", "describe", "quantmcu")
	for _, want := range []string{"quantmcu " + Version + " (built-in, protocol 1)", "--set quantmcu.OPTION=VALUE", "sram", "patches", "split"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("describe: exit %d, missing %q in\n%s%s", code, want, out, errOut)
		}
	}
	code, out, _ = pe.run("plugins", "describe", "mark")
	if code != 0 || !strings.Contains(out, "(one of: info, warning)") {
		t.Errorf("describe mark: exit %d\n%s", code, out)
	}
	if code, _, errOut = pe.run("plugins", "describe", "nosuch"); code != ExitBadInput || !strings.Contains(errOut, `no plugin named "nosuch"`) {
		t.Errorf("describe nosuch: exit %d, %s", code, errOut)
	}
	if code, _, errOut = pe.run("plugins", "--plugin-dir", "/nonexistent"); code != ExitBadInput || !strings.Contains(errOut, "plugin dir /nonexistent") {
		t.Errorf("missing plugin dir: exit %d, %s", code, errOut)
	}
	pe.noProcessesLeft(t)
}

// TestOptimizePipelineEqualsByHand runs strip then mark as one pipeline and one after the
// other by hand, on real models including the 3.98 MB MobileNetV2.
func testOptimizePipelineEqualsByHand(t *testing.T, pe *pluginEnv) {
	for _, name := range []string{"person_detect.tflite", "kws_ref_model.tflite", "mobilenet_v2_quantized_1x3x224x224.tflite"} {
		model := pluginTestModel(t, name)
		base := strings.TrimSuffix(name, ".tflite")
		one, hand := t.TempDir(), t.TempDir()
		code, out, errOut := pe.run("optimize", model, "--plugin-dir", pe.good, "--pipeline", "strip,mark", "--set", "mark.text=hello", "--set", "strip.names=yes", "-o", one)
		if code != 0 {
			t.Fatalf("%s: pipeline exit %d: %s", name, code, errOut)
		}
		for _, want := range []string{"step 1: strip 1.0.0", "step 2: mark 0.0.1-test", `added metadata mark="hello"`, "info: op 0: first operator seen", "wrote " + filepath.Join(one, base+"_quantmcu.tflite")} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: summary lacks %q:\n%s", name, want, out)
			}
		}
		if code, _, errOut = pe.run("optimize", model, "--plugin-dir", pe.good, "--pipeline", "strip", "--set", "strip.names=true", "-o", hand); code != 0 {
			t.Fatalf("%s: strip exit %d: %s", name, code, errOut)
		}
		mid := filepath.Join(hand, base+"_quantmcu.tflite")
		if code, _, errOut = pe.run("optimize", mid, "--plugin-dir", pe.good, "--pipeline", "mark", "--set", "mark.text=hello", "-o", hand); code != 0 {
			t.Fatalf("%s: mark exit %d: %s", name, code, errOut)
		}
		a, err := os.ReadFile(filepath.Join(one, base+"_quantmcu.tflite"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(hand, base+"_quantmcu_quantmcu.tflite"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: pipeline result (%d bytes) differs from running the plugins by hand (%d bytes)", name, len(a), len(b))
		}
		for _, art := range []string{"_strip.csv", "_mark.txt"} {
			if _, err := os.Stat(filepath.Join(one, base+art)); err != nil {
				t.Errorf("artifact: %v", err)
			}
		}
	}
	pe.noProcessesLeft(t)
}

// TestOptimizeDefaultPipeline runs the built-in QuantMCU rewriter in its own process. Until
// the patch-stage rewrite exists it must fail cleanly, writing nothing.
func testOptimizeDefaultPipeline(t *testing.T, pe *pluginEnv) {
	model := pluginTestModel(t, "person_detect.tflite")
	// The default pipeline is the QuantMCU rewriter; the example plugin before it, as one
	// pipeline, must equal running the two by hand.
	one, hand := filepath.Join(t.TempDir(), "one"), filepath.Join(t.TempDir(), "hand")
	code, stdout, errOut := pe.run("optimize", model, "--plugin-dir", pe.good, "--pipeline", "strip,quantmcu", "-o", one)
	if code != 0 {
		t.Fatalf("strip,quantmcu: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"step 2: quantmcu", "TFLM arena", "Patch stage      operators 0-"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if code, _, errOut = pe.run("optimize", model, "--plugin-dir", pe.good, "--pipeline", "strip", "-o", hand); code != 0 {
		t.Fatalf("strip: exit %d: %s", code, errOut)
	}
	if code, _, errOut = pe.run("optimize", filepath.Join(hand, "person_detect_quantmcu.tflite"), "-o", hand); code != 0 {
		t.Fatalf("quantmcu: exit %d: %s", code, errOut)
	}
	a, errA := os.ReadFile(filepath.Join(one, "person_detect_quantmcu.tflite"))
	b, errB := os.ReadFile(filepath.Join(hand, "person_detect_quantmcu_quantmcu.tflite"))
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Errorf("pipeline result differs from running strip then quantmcu by hand (%v, %v)", errA, errB)
	}
	// Same command twice: byte-identical outputs, reports included.
	again := filepath.Join(t.TempDir(), "again")
	if code, _, errOut = pe.run("optimize", model, "--plugin-dir", pe.good, "--pipeline", "strip,quantmcu", "-o", again); code != 0 {
		t.Fatalf("second run: exit %d: %s", code, errOut)
	}
	for _, f := range []string{"_quantmcu.tflite", "_summary.csv", "_per-layer.csv", "_memory.svg"} {
		x, err1 := os.ReadFile(filepath.Join(one, "person_detect"+f))
		y, err2 := os.ReadFile(filepath.Join(again, "person_detect"+f))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("person_detect%s differs between two identical runs (%v, %v)", f, err1, err2)
		}
	}
	// A model with nothing to patch passes through byte for byte, with a warning.
	hello := pluginTestModel(t, "hello_world_int8.tflite")
	kept := t.TempDir()
	code, stdout, errOut = pe.run("optimize", hello, "-o", kept)
	if code != 0 || !strings.Contains(stdout, "warning: nothing to patch (no tileable prefix") {
		t.Errorf("hello_world: exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
	a, errA = os.ReadFile(hello)
	b, errB = os.ReadFile(filepath.Join(kept, "hello_world_int8_quantmcu.tflite"))
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Errorf("hello_world: passed-through model differs from the input (%v, %v)", errA, errB)
	}
	// A model whose weight scale TFLite's requantization cannot represent (issue 10).
	absurd := filepath.Join(t.TempDir(), "absurd.tflite")
	m, err := tflite.Load(pluginTestModel(t, "pretrainedResnet_quant.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	w := m.Subgraphs[0].Tensors[m.Subgraphs[0].Operators[1].Inputs[1]]
	w.Quantization.Scale[0] *= 1e18
	if err := tflite.Save(absurd, m); err != nil {
		t.Fatal(err)
	}
	// Refusals: one line naming the reason, exit 2, nothing written; one prefix only.
	refusals := []struct {
		model string
		args  []string
		want  string
	}{
		{pluginTestModel(t, "negative/person_detect_vela.tflite"), nil, "quantmcu optimize: cannot patch: model was compiled by Vela"},
		{absurd, nil, `quantmcu optimize: cannot patch: operator 1 (CONV_2D): weights tensor ` + strconv.Itoa(int(m.Subgraphs[0].Operators[1].Inputs[1])) + ` "` + w.Name + `" has scale`},
		{model, []string{"--split", "999"}, "quantmcu optimize: cannot patch: split 999 is out of range (1..29)"},
	}
	for _, r := range refusals {
		out := filepath.Join(t.TempDir(), "out")
		code, _, errOut := pe.run(append([]string{"optimize", r.model, "-o", out}, r.args...)...)
		if code != ExitBadInput || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, r.want) {
			t.Errorf("%s %v: exit %d, stderr %q; want exit 2 and one line starting %q", r.model, r.args, code, errOut, r.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: output dir exists after a refusal", r.model)
		}
	}
	pe.noProcessesLeft(t)
}

// TestOptimizeBrokenPlugins runs every deliberately broken plugin after a good step and
// demands one error line, the right exit code, no output and no process left.
func testOptimizeBrokenPlugins(t *testing.T, pe *pluginEnv) {
	model := pluginTestModel(t, "person_detect.tflite")
	cases := []struct {
		mode string
		code int
		want string
	}{
		{"exitstart", ExitInternal, "plugin exitstart: exited before the handshake (exit status 3); plugin stderr: testplugin: cannot initialise: license file missing"},
		{"hangstart", ExitInternal, "plugin hangstart: did not complete the handshake within 3s (--plugin-timeout)"},
		{"garbage", ExitInternal, `plugin garbage: wrote "hello from a chatty plugin" to stdout instead of the go-plugin handshake line (plugins must not write to stdout)`},
		{"badproto", ExitInternal, "plugin badproto: speaks plugin protocol version 2, this quantmcu speaks version 1"},
		{"panic", ExitInternal, "plugin panic: panic: boom"},
		{"crash", ExitInternal, "plugin crash: crashed during optimize (exit status 2); plugin stderr: panic: crash in worker"},
		{"hang", ExitInternal, "plugin hang: optimize did not finish within 3s (--plugin-timeout); killed it"},
		{"badmodel", ExitInternal, "plugin badmodel: returned an invalid model: model: not a TFLite model"},
		{"badinput", ExitBadInput, "plugin badinput: model has no CONV_2D to work on"},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			// A good step runs first, except for the hangs: their short timeout applies to
			// every plugin and a loaded machine must not make the good one miss it.
			args := []string{"optimize", model, "--plugin-dir", pe.bins.Dir, "-o", out, "--pipeline", "strip," + c.mode}
			if strings.HasPrefix(c.mode, "hang") {
				args = append(args[:len(args)-1], c.mode, "--plugin-timeout", "3s")
			}
			code, stdout, errOut := pe.run(args...)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr %q", code, c.code, errOut)
			}
			if !strings.HasPrefix(errOut, "quantmcu optimize: "+c.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr %q\nwant one line starting %q", errOut, "quantmcu optimize: "+c.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output dir %s exists after the failure", out)
			}
			pe.noProcessesLeft(t)
		})
	}
}

func testOptimizeUsageErrors(t *testing.T, pe *pluginEnv) {
	model := pluginTestModel(t, "person_detect.tflite")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{model, "--pipeline", "strip", "--set", "strip.nope=1"}, "--set strip.nope: no such option (plugin strip has: metadata, names)"},
		{[]string{model, "--pipeline", "strip", "--set", "strip.names=maybe"}, `--set strip.names (bool): "maybe" is not a boolean`},
		{[]string{model, "--pipeline", "strip", "--set", "mark.text=x"}, "--set mark.text: plugin mark is not in the pipeline (strip)"},
		{[]string{model, "--pipeline", "strip", "--set", "names"}, `--set "names": want NAME.OPTION=VALUE`},
		{[]string{model, "--pipeline", "strip,,mark"}, "empty plugin name"},
		{[]string{model, "--pipeline", "nosuch"}, `--pipeline: no plugin named "nosuch" (found: mark, quantmcu, strip)`},
		{[]string{"/nonexistent.tflite"}, "/nonexistent.tflite"},
		{[]string{pluginTestModel(t, "negative/malicious.tflite")}, `tensor 1 "weight": buffer 1 holds 4 bytes but shape [1073741825,4]`},
		{[]string{model, "--plugin-timeout", "-1s"}, "--plugin-timeout must be positive"},
		{[]string{}, "want exactly one MODEL argument"},
	} {
		out := filepath.Join(t.TempDir(), "out")
		args := append([]string{"optimize", "--plugin-dir", pe.good, "-o", out}, c.args...)
		code, _, errOut := pe.run(args...)
		if code != ExitBadInput || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errOut, c.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%v: output written", c.args)
		}
	}
	pe.noProcessesLeft(t)
}

// TestOptimizeInterrupted sends SIGINT and SIGTERM to a quantmcu process waiting for a hung
// plugin: it must stop the plugin, write nothing and exit 1.
func testOptimizeInterrupted(t *testing.T, pe *pluginEnv) {
	model := pluginTestModel(t, "person_detect.tflite")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		out := filepath.Join(t.TempDir(), "out")
		pidFile := filepath.Join(pe.bins.PIDDir, "hang.pid")
		os.Remove(pidFile)
		cmd := exec.Command(pe.bins.Quantmcu, "optimize", model, "--plugin-dir", pe.bins.Dir, "--pipeline", "hang", "-o", out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 600; i++ { // the plugin records its pid when it starts
			if _, err := os.Stat(pidFile); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond) // let the host reach Optimize (either phase must clean up)
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitInternal || !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("%v: %v, stderr %q", sig, err, stderr.String())
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%v: output written", sig)
		}
		pid := pe.bins.PIDs(t)["hang"]
		gone := false
		for i := 0; i < 100 && !gone; i++ { // an orphan would be reaped by init, not by us
			_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
			gone = os.IsNotExist(err)
			time.Sleep(20 * time.Millisecond)
		}
		if !gone {
			t.Errorf("%v: plugin pid %d survived", sig, pid)
		}
	}
}
