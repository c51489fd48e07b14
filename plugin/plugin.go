// Package plugin is the SDK for quantmcu optimizer plugins and the Go side of the plugin
// protocol (plugin/pluginpb/optimizer.proto), served through hashicorp/go-plugin.
//
// A plugin is an executable named quantmcu-plugin-NAME whose main function is
//
//	func main() { plugin.Serve(myOptimizer{}) }
//
// where myOptimizer implements Optimizer. The host (quantmcu optimize) starts it as a child
// process, checks the handshake, asks for its Description and sends it models. A plugin must
// never write to stdout (go-plugin uses it for the handshake); log with NewLogger, which
// writes to stderr.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the version of the plugin protocol this package implements. It changes
// only with an incompatible change of optimizer.proto.
const ProtocolVersion = 1

// The handshake cookie: go-plugin sets MagicCookieKey=MagicCookieValue in the plugin's
// environment, and a plugin refuses to start without it (so that running a plugin binary by
// hand prints a hint instead of hanging).
const (
	MagicCookieKey   = "QUANTMCU_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "d3b07384-quantmcu-optimizer-plugin"
)

// PluginName is the name under which the optimizer service is registered in go-plugin's
// plugin set.
const PluginName = "optimizer"

// MaxMessageSize bounds every gRPC message in both directions (models, artifacts). gRPC's
// default of 4 MiB is smaller than real models.
const MaxMessageSize = 256 << 20

// Handshake returns the go-plugin handshake shared by host and plugins.
func Handshake() goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// Optimizer is what a plugin implements.
type Optimizer interface {
	// Describe returns the plugin's name, version and option schema. Name must match the
	// executable name quantmcu-plugin-NAME. ProtocolVersion and PID are filled in by Serve.
	Describe() Description
	// Optimize transforms req.Model and returns the new model. req.Options holds every option
	// of the schema with a checked, canonical value. progress may be called any number of
	// times, from any goroutine, with a message and the fraction done (0..1, or -1 when
	// unknown). Return BadInput(err) when the model or options are unsuitable, so the host
	// reports it as the user's problem. ctx is cancelled when the host gives up.
	Optimize(ctx context.Context, req *Request, progress func(msg string, fraction float64)) (*Response, error)
}

// Description identifies a plugin and declares its options.
type Description struct {
	Name            string
	Version         string
	Summary         string
	ProtocolVersion int
	Options         []Option
	// PID is the process id of the plugin process (set by Serve).
	PID int
}

// Option returns the option called name and whether it exists.
func (d *Description) Option(name string) (Option, bool) {
	for _, o := range d.Options {
		if o.Name == name {
			return o, true
		}
	}
	return Option{}, false
}

// Request is one Optimize call.
type Request struct {
	// Model is the input .tflite FlatBuffer.
	Model []byte
	// ModelName is the base name of the user's model file without extension.
	ModelName string
	// Options holds a canonical value for every option of the plugin's schema.
	Options Options
}

// Level is the severity of a Diagnostic.
type Level int

// Diagnostic levels.
const (
	Info Level = iota + 1
	Warning
	Error
)

// String returns "info", "warning" or "error".
func (l Level) String() string {
	switch l {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// Diagnostic is a message about the model, optionally tied to one operator.
type Diagnostic struct {
	Level    Level
	Subgraph int
	// Operator is the operator index, or -1 when the message concerns the whole model.
	Operator int
	Message  string
}

// String formats the diagnostic as one line, e.g. "warning: op 12: not rewritten: ...".
func (d Diagnostic) String() string {
	switch {
	case d.Operator < 0:
		return fmt.Sprintf("%s: %s", d.Level, d.Message)
	case d.Subgraph != 0:
		return fmt.Sprintf("%s: subgraph %d op %d: %s", d.Level, d.Subgraph, d.Operator, d.Message)
	}
	return fmt.Sprintf("%s: op %d: %s", d.Level, d.Operator, d.Message)
}

// Response is the result of Optimize.
type Response struct {
	// Model is the output .tflite FlatBuffer.
	Model       []byte
	Diagnostics []Diagnostic
	// Artifacts are report files by name (e.g. "summary.csv"); see ValidArtifactName.
	Artifacts map[string][]byte
	// Summary is a few lines for the user saying what the plugin did.
	Summary string
}

// inputError marks an error caused by the model or the options rather than by the plugin.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

// BadInput marks err as a problem with the user's model or options. Through the protocol it
// travels as gRPC status INVALID_ARGUMENT, and quantmcu exits with status 2.
func BadInput(err error) error {
	if err == nil {
		return nil
	}
	return inputError{err}
}

// IsBadInput reports whether err was marked with BadInput (on either side of the protocol).
func IsBadInput(err error) bool {
	var ie inputError
	return errors.As(err, &ie)
}

// NewLogger returns the logger plugins should use: hclog, JSON lines on stderr, which the host
// parses. The level comes from QUANTMCU_PLUGIN_LOG_LEVEL (default "info").
func NewLogger(name string) hclog.Logger {
	level := hclog.LevelFromString(os.Getenv("QUANTMCU_PLUGIN_LOG_LEVEL"))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      level,
		Output:     os.Stderr,
		JSONFormat: true,
	})
}

// LifelineEnv is set by the host to "stdin" when the plugin's standard input is a pipe the
// host holds open for the plugin's whole life: end of input means the host is gone (it
// exited or was killed, whatever the signal), and Serve then ends the plugin process.
const LifelineEnv = "QUANTMCU_PLUGIN_LIFELINE"

// watchLifeline reads r until it ends, then exits the process: the host that started this
// plugin is gone and nobody is left to serve.
func watchLifeline(r io.Reader, log hclog.Logger) {
	io.Copy(io.Discard, r)
	log.Error("the host is gone (its lifeline pipe closed); exiting")
	os.Exit(1)
}

// Serve runs opt as a plugin process: it performs the go-plugin handshake on stdout and serves
// the Optimizer service until the host disconnects. It never returns normally when started by
// a host, and ends the process when the host dies (see LifelineEnv); run by hand (without
// the handshake cookie) it prints a hint and exits with status 1.
func Serve(opt Optimizer) {
	ServeVersion(opt, ProtocolVersion)
}

// ServeVersion is Serve announcing the given protocol version. Only tests need it, to check
// that the host rejects a plugin speaking another version.
func ServeVersion(opt Optimizer, version int) {
	name := opt.Describe().Name
	if os.Getenv(LifelineEnv) == "stdin" {
		go watchLifeline(os.Stdin, NewLogger(name))
	}
	hs := Handshake()
	hs.ProtocolVersion = uint(version)
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: map[int]goplugin.PluginSet{version: {PluginName: &GRPCPlugin{Impl: opt, Logger: NewLogger(name)}}},
		GRPCServer:       NewGRPCServer,
		Logger:           NewLogger(name),
	})
}
