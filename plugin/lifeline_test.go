package plugin

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A plugin served by Serve ends when its host's lifeline (stdin) closes, which is what the
// host's death looks like from the plugin whatever signal killed it (issue 10). This runs
// without the parent-death signal, so the SDK's own watch is what is tested.
func TestServeEndsWhenTheLifelineCloses(t *testing.T) {
	if os.Getenv("QUANTMCU_TEST_LIFELINE_CHILD") == "1" {
		Serve(&fake{desc: sampleDescription()})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeEndsWhenTheLifelineCloses$")
	cmd.Env = append(os.Environ(), "QUANTMCU_TEST_LIFELINE_CHILD=1", MagicCookieKey+"="+MagicCookieValue,
		LifelineEnv+"=stdin", "PLUGIN_PROTOCOL_VERSIONS=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "1|1|") {
		t.Fatalf("handshake line %q, %v", line, err)
	}
	stdin.Close() // the host "dies"
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("plugin ended with %v, want exit status 1", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin still runs 5 s after its lifeline closed")
	}
}
