package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/spf13/pflag"

	"github.com/quantmcu/quantmcu/host/pluginhost"
	"github.com/quantmcu/quantmcu/plugin"
	"github.com/quantmcu/quantmcu/plugin/builtin"
)

// EnvPluginDir names the environment variable listing plugin directories (PATH syntax).
const EnvPluginDir = "QUANTMCU_PLUGIN_DIR"

// EnvLogLevel names the environment variable that turns on plugin host logging on stderr
// (trace, debug, info, warn, error).
const EnvLogLevel = "QUANTMCU_LOG_LEVEL"

// pluginFlags are the flags shared by the commands that start plugins.
type pluginFlags struct {
	dirs    []string
	timeout time.Duration
}

// register declares the flags; def is the default --plugin-timeout.
func (pf *pluginFlags) register(fs *pflag.FlagSet, def time.Duration) {
	fs.StringArrayVar(&pf.dirs, "plugin-dir", nil,
		"directory holding quantmcu-plugin-NAME executables (repeatable; default $"+EnvPluginDir+")")
	fs.DurationVar(&pf.timeout, "plugin-timeout", def,
		"limit for each plugin call (start-up, describe, optimize); a plugin past it is killed")
}

// discovery says where plugins are looked for: built-ins, --plugin-dir (else
// $QUANTMCU_PLUGIN_DIR), then PATH.
func (pf *pluginFlags) discover(env *Env) ([]pluginhost.Candidate, error) {
	if pf.timeout <= 0 {
		return nil, BadInputf("--plugin-timeout must be positive, got %s", pf.timeout)
	}
	dirs := pf.dirs
	if len(dirs) == 0 {
		for _, d := range filepath.SplitList(os.Getenv(EnvPluginDir)) {
			if d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	cands, err := pluginhost.Discover(pluginhost.Discovery{
		Self: env.Self, Builtins: builtin.Names(), Dirs: dirs, PathList: os.Getenv("PATH"),
	})
	if err != nil {
		return nil, BadInput(err)
	}
	return cands, nil
}

func (pf *pluginFlags) newHost(env *Env) *pluginhost.Host {
	cfg := pluginhost.Config{Timeout: pf.timeout}
	if lvl := hclog.LevelFromString(os.Getenv(EnvLogLevel)); lvl != hclog.NoLevel {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "quantmcu", Level: lvl, Output: env.Stderr})
	}
	return pluginhost.New(cfg)
}

// closeHost stops every plugin process h started and, as a safety net, any other managed
// go-plugin client of this process.
func closeHost(h *pluginhost.Host) {
	h.Close()
	goplugin.CleanupClients()
}

// hostError converts a plugin host error to the CLI's convention: problems the plugin blames
// on the model or options are bad input (exit 2), everything else exit 1.
func hostError(err error) error {
	if plugin.IsBadInput(err) {
		return BadInput(err)
	}
	return err
}

// listTimeout is the default --plugin-timeout of `quantmcu plugins`: describing a plugin is
// quick, and one hung plugin on PATH must not stall the listing for long.
const listTimeout = 30 * time.Second

func pluginsCommand() *Command {
	var (
		pf     pluginFlags
		format string
	)
	return &Command{
		Name:    "plugins",
		Summary: "list optimizer plugins, or show one plugin's options",
		Usage:   "plugins [describe NAME] [--format table|json] [--plugin-dir DIR] [--plugin-timeout D]",
		Help: `Plugins are the built-in QuantMCU rewriter ("quantmcu"), executables named
quantmcu-plugin-NAME in --plugin-dir (or $QUANTMCU_PLUGIN_DIR, a PATH-style list), and
quantmcu-plugin-NAME executables on PATH, in this order of precedence. Every plugin is
started in its own process to ask for its version and options.

'plugins describe NAME' prints the options NAME accepts; set them in 'quantmcu optimize'
with --set NAME.OPTION=VALUE.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&format, "format", "table", "output format: table or json")
			pf.register(fs, listTimeout)
		},
		Run: func(env *Env, _ *pflag.FlagSet, args []string) error {
			if format != "table" && format != "json" {
				return BadInputf("--format: want table or json, got %q", format)
			}
			cands, err := pf.discover(env)
			if err != nil {
				return err
			}
			switch {
			case len(args) == 0:
				return listPlugins(env, &pf, cands, format)
			case len(args) == 2 && args[0] == "describe":
				return describePlugin(env, &pf, cands, args[1], format)
			}
			return BadInputf("unexpected arguments %q; want 'plugins' or 'plugins describe NAME'", strings.Join(args, " "))
		},
	}
}

// pluginInfo is one row of the listing (and the JSON output).
type pluginInfo struct {
	Name     string            `json:"name"`
	Version  string            `json:"version,omitempty"`
	Protocol int               `json:"protocol_version,omitempty"`
	Summary  string            `json:"summary,omitempty"`
	Source   string            `json:"source"`
	Path     string            `json:"path"`
	PID      int               `json:"pid,omitempty"`
	Options  []pluginOptionDoc `json:"options,omitempty"`
	Error    string            `json:"error,omitempty"`
}

type pluginOptionDoc struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Default string   `json:"default"`
	Help    string   `json:"help,omitempty"`
	Allowed []string `json:"allowed_values,omitempty"`
}

// probe starts c, records its description, and stops it again.
func probe(ctx context.Context, h *pluginhost.Host, c pluginhost.Candidate) pluginInfo {
	info := pluginInfo{Name: c.Name, Source: c.Source, Path: c.Path}
	p, err := h.Start(ctx, c)
	if err != nil {
		info.Error = strings.ReplaceAll(err.Error(), "\n", "; ")
		return info
	}
	defer p.Close()
	d := p.Desc
	info.Version, info.Protocol, info.Summary, info.PID = d.Version, d.ProtocolVersion, d.Summary, p.PID
	for _, o := range d.Options {
		info.Options = append(info.Options, pluginOptionDoc{Name: o.Name, Type: o.Type.String(), Default: o.Default, Help: o.Help, Allowed: o.Allowed})
	}
	return info
}

func listPlugins(env *Env, pf *pluginFlags, cands []pluginhost.Candidate, format string) error {
	ctx, stop := signalContext()
	defer stop()
	h := pf.newHost(env)
	defer closeHost(h)
	infos := make([]pluginInfo, len(cands))
	var wg sync.WaitGroup
	for i, c := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			infos[i] = probe(ctx, h, c)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted")
	}
	if format == "json" {
		return writeJSON(env.Stdout, infos)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSOURCE\tSUMMARY")
	for _, in := range infos {
		version, summary := in.Version, in.Summary
		if in.Error != "" {
			version, summary = "-", "BROKEN: "+in.Error
		}
		where := pluginhost.Candidate{Path: in.Path, Source: in.Source}.Where()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", in.Name, version, where, summary)
	}
	return tw.Flush()
}

func describePlugin(env *Env, pf *pluginFlags, cands []pluginhost.Candidate, name, format string) error {
	c, ok := pluginhost.Find(cands, name)
	if !ok {
		return BadInputf("no plugin named %q (found: %s)", name, candidateNames(cands))
	}
	ctx, stop := signalContext()
	defer stop()
	h := pf.newHost(env)
	defer closeHost(h)
	in := probe(ctx, h, c)
	if in.Error != "" {
		return fmt.Errorf("%s", in.Error)
	}
	if format == "json" {
		return writeJSON(env.Stdout, in)
	}
	w := env.Stdout
	fmt.Fprintf(w, "%s %s (%s, protocol %d)\n", in.Name, in.Version, c.Where(), in.Protocol)
	if in.Summary != "" {
		fmt.Fprintf(w, "  %s\n", in.Summary)
	}
	if len(in.Options) == 0 {
		fmt.Fprintln(w, "\nNo options.")
		return nil
	}
	fmt.Fprintf(w, "\nOptions (set with --set %s.OPTION=VALUE):\n", in.Name)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, o := range in.Options {
		def := o.Default
		if def == "" {
			def = `""`
		}
		help := o.Help
		if len(o.Allowed) > 0 {
			help += " (one of: " + strings.Join(o.Allowed, ", ") + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\tdefault %s\t%s\n", o.Name, o.Type, def, help)
	}
	return tw.Flush()
}

func candidateNames(cands []pluginhost.Candidate) string {
	if len(cands) == 0 {
		return "none"
	}
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
