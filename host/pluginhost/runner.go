package pluginhost

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"

	"github.com/hashicorp/go-plugin/runner"

	"github.com/quantmcu/quantmcu/plugin"
)

// procRunner is the go-plugin runner for a plugin child process. Unlike go-plugin's own
// runner it remembers how the process ended, so errors can say "exit status 3" or
// "signal: killed".
//
// The child never outlives the host: on Linux the kernel kills it when the host dies
// (parent-death signal), and everywhere its stdin is a pipe whose write end only the host
// holds, so plugins built with the SDK see end of input and exit (plugin.LifelineEnv).
type procRunner struct {
	cmd    *exec.Cmd
	stdout io.ReadCloser
	stderr io.ReadCloser
	// lifeline is the host's end of the child's stdin; childEnd the child's, closed in the
	// host once the child has it.
	lifeline, childEnd *os.File

	mu      sync.Mutex
	pid     int
	waitErr error
	exited  chan struct{} // closed when Wait has returned
}

var _ runner.Runner = (*procRunner)(nil)

// newProcRunner prepares path with args and env; go-plugin starts it.
func newProcRunner(path string, args, env []string) (*procRunner, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(slices.Clip(env), plugin.LifelineEnv+"=stdin")
	cmd.SysProcAttr = dieWithParent()
	childEnd, lifeline, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdin = childEnd
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		childEnd.Close()
		lifeline.Close()
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		childEnd.Close()
		lifeline.Close()
		return nil, err
	}
	return &procRunner{cmd: cmd, stdout: stdout, stderr: stderr, lifeline: lifeline, childEnd: childEnd, exited: make(chan struct{})}, nil
}

func (r *procRunner) Start(context.Context) error {
	err := r.cmd.Start()
	r.childEnd.Close()
	if err != nil {
		r.lifeline.Close()
		close(r.exited)
		return err
	}
	r.mu.Lock()
	r.pid = r.cmd.Process.Pid
	r.mu.Unlock()
	return nil
}

func (r *procRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.lifeline.Close()
	r.mu.Lock()
	r.waitErr = err
	r.mu.Unlock()
	close(r.exited)
	return err
}

func (r *procRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// exitStatus waits up to the end of ctx for the process to end and describes how it ended
// ("exit status 3", "signal: killed"); ok is false while it still runs.
func (r *procRunner) exitStatus(ctx context.Context) (string, bool) {
	select {
	case <-r.exited:
	case <-ctx.Done():
		return "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waitErr == nil {
		return "exit status 0", true
	}
	var ee *exec.ExitError
	if errors.As(r.waitErr, &ee) {
		return ee.ProcessState.String(), true
	}
	return r.waitErr.Error(), true
}

// PID returns the process id (0 before Start).
func (r *procRunner) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pid
}

func (r *procRunner) Stdout() io.ReadCloser           { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser           { return r.stderr }
func (r *procRunner) Name() string                    { return r.cmd.Path }
func (r *procRunner) ID() string                      { return strconv.Itoa(r.PID()) }
func (r *procRunner) Diagnose(context.Context) string { return "" }

func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}
