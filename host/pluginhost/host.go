package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quantmcu/quantmcu/plugin"
)

// DefaultTimeout bounds each plugin call (start, Describe, Optimize) when Config.Timeout is 0.
const DefaultTimeout = 10 * time.Minute

// exitGrace is how long the host waits for a plugin whose connection broke to finish exiting,
// so the error can show its exit status and last stderr lines.
const exitGrace = 2 * time.Second

// Config configures a Host.
type Config struct {
	// Timeout bounds each plugin call: start-up with handshake and Describe, and each
	// Optimize. 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger receives go-plugin's and the plugins' log lines; nil discards them.
	Logger hclog.Logger
}

// Host starts plugins and owns their processes. Close kills whatever is still running.
type Host struct {
	cfg Config

	mu      sync.Mutex
	plugins []*Plugin
	closed  bool
}

// New returns a Host.
func New(cfg Config) *Host {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Host{cfg: cfg}
}

// Timeout returns the per-call timeout in effect.
func (h *Host) Timeout() time.Duration { return h.cfg.Timeout }

// Plugin is a running plugin process.
type Plugin struct {
	Candidate
	// Desc is the plugin's checked self-description.
	Desc *plugin.Description
	// PID is the process id of the plugin process, as the host started it.
	PID int

	host   *Host
	client *goplugin.Client
	rpc    *plugin.Client
	proc   atomic.Pointer[procRunner] // set by go-plugin's RunnerFunc during start-up
	stderr *stderrTail
}

// Error is the failure of one plugin: it names the plugin and carries the end of what the
// plugin wrote to stderr.
type Error struct {
	Plugin string
	Msg    string
	Stderr string
	Err    error
	// Bare leaves out the "plugin NAME: " prefix: a built-in plugin's own refusal reads as
	// quantmcu's ("cannot patch: ...").
	Bare bool
}

func (e *Error) Error() string {
	s := fmt.Sprintf("plugin %s: %s", e.Plugin, e.Msg)
	if e.Bare {
		s = e.Msg
	}
	if e.Stderr != "" {
		s += "; plugin stderr: " + e.Stderr
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Start launches the plugin c, completes the handshake and asks for its description, which
// must name c and speak this protocol version. The process is killed again on any error;
// on success it runs until Plugin.Close or Host.Close.
func (h *Host) Start(ctx context.Context, c Candidate) (*Plugin, error) {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("plugin %s: host is shut down", c.Name)
	}
	p := &Plugin{Candidate: c, host: h, stderr: &stderrTail{}}
	p.client = goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake(),
		VersionedPlugins: map[int]goplugin.PluginSet{plugin.ProtocolVersion: {plugin.PluginName: &plugin.GRPCPlugin{}}},
		RunnerFunc: func(_ hclog.Logger, cmd *exec.Cmd, _ string) (runner.Runner, error) {
			r, err := newProcRunner(c.Path, c.Args, cmd.Env)
			if err != nil {
				return nil, err
			}
			p.proc.Store(r)
			return r, nil
		},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		GRPCDialOptions:  plugin.DialOptions(),
		Managed:          true,
		StartTimeout:     h.cfg.Timeout,
		Stderr:           p.stderr,
		Logger:           h.cfg.Logger.Named(c.Name),
	})
	h.mu.Lock()
	h.plugins = append(h.plugins, p)
	h.mu.Unlock()

	if err := p.start(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Plugin) start(ctx context.Context) error {
	// go-plugin's Start is not cancellable; a cancelled ctx kills the process instead, which
	// makes Start return.
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			if r := p.proc.Load(); r != nil {
				r.Kill(context.Background())
			}
		case <-done:
		}
	}()
	rpcClient, err := p.client.Client()
	close(done)
	if err != nil {
		return p.startError(ctx, err)
	}
	if r := p.proc.Load(); r != nil {
		p.PID = r.PID()
	}
	raw, err := rpcClient.Dispense(plugin.PluginName)
	if err != nil {
		return p.fail(ctx, "handshake", err)
	}
	rpc, ok := raw.(*plugin.Client)
	if !ok {
		return &Error{Plugin: p.Name, Msg: fmt.Sprintf("dispensed %T, not an optimizer client", raw)}
	}
	p.rpc = rpc
	cctx, cancel := context.WithTimeout(ctx, p.host.cfg.Timeout)
	defer cancel()
	d, err := rpc.Describe(cctx)
	if err != nil {
		return p.callError(ctx, cctx, "describe", err)
	}
	if err := plugin.CheckDescription(d); err != nil {
		return &Error{Plugin: p.Name, Msg: err.Error()}
	}
	if d.Name != p.Name {
		return &Error{Plugin: p.Name, Msg: fmt.Sprintf("%s describes itself as %q; the executable must be named %s%s", p.Path, d.Name, ExecutablePrefix, d.Name)}
	}
	p.Desc = d
	return nil
}

var (
	incompatibleRE = regexp.MustCompile(`incompatible API version with plugin\. Plugin version: (\d+)`)
	unrecognizedRE = regexp.MustCompile(`(?s)Unrecognized remote plugin message: ([^\n]*)`)
)

// startError explains a failed start-up in one sentence.
func (p *Plugin) startError(ctx context.Context, err error) error {
	msg := err.Error()
	e := &Error{Plugin: p.Name, Err: err}
	status := p.exitStatus()
	switch {
	case ctx.Err() != nil:
		e.Msg = "start-up interrupted"
		e.Err = ctx.Err()
	case p.proc.Load() == nil || p.proc.Load().PID() == 0:
		e.Msg = fmt.Sprintf("cannot start %s: %v", p.Path, err)
	case strings.Contains(msg, "incompatible API version"):
		v := "another version"
		if m := incompatibleRE.FindStringSubmatch(msg); m != nil {
			v = "version " + m[1]
		}
		e.Msg = fmt.Sprintf("speaks plugin protocol %s, this quantmcu speaks version %d; update the plugin or quantmcu", v, plugin.ProtocolVersion)
	case strings.Contains(msg, "incompatible core API version"):
		e.Msg = fmt.Sprintf("was built with an incompatible go-plugin core protocol (%s)", firstLine(msg))
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		e.Msg = fmt.Sprintf("did not complete the handshake within %s (--plugin-timeout)", p.host.cfg.Timeout)
	case status != "" && (strings.Contains(msg, "exited before we could connect") || strings.Contains(msg, "Failed to read any lines")):
		e.Msg = fmt.Sprintf("exited before the handshake (%s)", status)
	case unrecognizedRE.MatchString(msg):
		out := unrecognizedRE.FindStringSubmatch(msg)[1]
		if len(out) > 80 {
			out = out[:80] + "..."
		}
		e.Msg = fmt.Sprintf("wrote %q to stdout instead of the go-plugin handshake line (plugins must not write to stdout)", out)
	default:
		e.Msg = "start-up failed: " + firstLine(msg)
		if status != "" {
			e.Msg += " (" + status + ")"
		}
	}
	e.Stderr = p.stderr.Summary()
	return e
}

// exitStatus returns how the plugin process ended, waiting briefly for it; "" if it still
// runs or never started.
func (p *Plugin) exitStatus() string {
	r := p.proc.Load()
	if r == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), exitGrace)
	defer cancel()
	s, _ := r.exitStatus(ctx)
	return s
}

// callError explains a failed RPC: plugin-reported errors as they are, otherwise a crash (the
// process ended), a timeout (cctx expired), an interruption (ctx cancelled) or a lost
// connection.
func (p *Plugin) callError(ctx, cctx context.Context, op string, err error) error {
	var re *plugin.RemoteError
	if errors.As(err, &re) {
		// The plugin's own message says what went wrong; during optimize (the call users
		// see) it needs no "optimize failed" in front.
		msg := re.Msg
		if op != "optimize" {
			msg = op + " failed: " + msg
		}
		return &Error{Plugin: p.Name, Msg: msg, Err: err, Bare: p.Source == FromBuiltin && op == "optimize"}
	}
	switch {
	case ctx.Err() != nil:
		return &Error{Plugin: p.Name, Msg: op + " interrupted", Err: ctx.Err()}
	case cctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded:
		// The plugin's side may see the deadline (sent along by gRPC) and end the stream a
		// moment before cctx's own timer fires.
		p.Close()
		return &Error{Plugin: p.Name, Msg: fmt.Sprintf("%s did not finish within %s (--plugin-timeout); killed it", op, p.host.cfg.Timeout),
			Err: cctx.Err(), Stderr: p.stderr.Summary()}
	}
	return p.fail(ctx, op, err)
}

// fail reports a broken connection, as a crash when the process has ended.
func (p *Plugin) fail(_ context.Context, op string, err error) error {
	e := &Error{Plugin: p.Name, Err: err}
	if status := p.exitStatus(); status != "" {
		e.Msg = fmt.Sprintf("crashed during %s (%s)", op, status)
	} else {
		e.Msg = fmt.Sprintf("lost the connection during %s: %s", op, firstLine(err.Error()))
	}
	e.Stderr = p.stderr.Summary()
	return e
}

// Optimize runs one Optimize call, bounded by the host's timeout.
func (p *Plugin) Optimize(ctx context.Context, req *plugin.Request, progress func(msg string, fraction float64)) (*plugin.Response, error) {
	if p.rpc == nil {
		return nil, &Error{Plugin: p.Name, Msg: "not running"}
	}
	cctx, cancel := context.WithTimeout(ctx, p.host.cfg.Timeout)
	defer cancel()
	resp, err := p.rpc.Optimize(cctx, req, progress)
	if err != nil {
		return nil, p.callError(ctx, cctx, "optimize", err)
	}
	return resp, nil
}

// Close ends the plugin process (gracefully if it responds, killed otherwise) and waits until
// it is gone. It is safe to call more than once.
func (p *Plugin) Close() {
	p.client.Kill()
}

// Close ends every plugin this host started and refuses new ones.
func (h *Host) Close() {
	h.mu.Lock()
	h.closed = true
	ps := h.plugins
	h.plugins = nil
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Close()
		}()
	}
	wg.Wait()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
