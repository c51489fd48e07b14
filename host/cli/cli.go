// Package cli implements the quantmcu command line: a set of subcommands sharing one
// error and exit-code convention (0 ok, 1 internal error, 2 bad input or usage).
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// Exit codes shared by every subcommand.
const (
	ExitOK       = 0
	ExitInternal = 1
	ExitBadInput = 2
)

// maxMessage bounds the error line a command prints: hostile models can carry huge names.
const maxMessage = 2000

// Version is the tool version, stamped into models and reports.
const Version = "0.1.0"

// Env is what a command may touch: its output streams. Commands never use os.Stdout directly,
// so tests run them in-process.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	// Self is the path of the running quantmcu executable (used to start built-in plugins).
	Self string
}

// Command is one subcommand.
type Command struct {
	Name    string
	Summary string // one line for `quantmcu --help`
	Usage   string // synopsis, e.g. "inspect MODEL [--format table|csv|json]"
	Help    string // paragraphs shown by `quantmcu help NAME` above the flag list
	// Flags declares the command's flags on fs; Run gets the positional arguments.
	Flags func(fs *pflag.FlagSet)
	Run   func(env *Env, fs *pflag.FlagSet, args []string) error
	// Hidden commands are left out of the overview (internal plugin entry points).
	Hidden bool
}

// inputError marks an error caused by the user's input (exit code 2).
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

// BadInput marks err as a problem with the user's input or arguments: the command exits
// with status 2 and prints the message as one line.
func BadInput(err error) error {
	if err == nil {
		return nil
	}
	return inputError{err}
}

// BadInputf is BadInput(fmt.Errorf(format, args...)).
func BadInputf(format string, args ...any) error { return BadInput(fmt.Errorf(format, args...)) }

// IsBadInput reports whether err was marked with BadInput.
func IsBadInput(err error) bool {
	var ie inputError
	return errors.As(err, &ie)
}

// Commands returns every subcommand of quantmcu in display order.
func Commands() []*Command {
	return []*Command{
		inspectCommand(),
		optimizeCommand(),
		exportCCommand(),
		runCommand(),
		profileCommand(),
		evalCommand(),
		pluginsCommand(),
		servePluginCommand(),
	}
}

// Main runs the quantmcu command line with args (without the program name) and returns the
// process exit code.
func Main(args []string, env *Env) int {
	cmds := Commands()
	if len(args) == 0 {
		printOverview(env.Stderr, cmds)
		return ExitBadInput
	}
	switch args[0] {
	case "-h", "--help", "help":
		if args[0] == "help" && len(args) > 1 {
			c := find(cmds, args[1])
			if c == nil {
				fmt.Fprintf(env.Stderr, "quantmcu: unknown command %q; run 'quantmcu --help'\n", args[1])
				return ExitBadInput
			}
			printCommandHelp(env.Stdout, c)
			return ExitOK
		}
		printOverview(env.Stdout, cmds)
		return ExitOK
	case "--version", "version":
		fmt.Fprintf(env.Stdout, "quantmcu %s\n", Version)
		return ExitOK
	}
	c := find(cmds, args[0])
	if c == nil {
		fmt.Fprintf(env.Stderr, "quantmcu: unknown command %q; run 'quantmcu --help'\n", args[0])
		return ExitBadInput
	}
	fs := pflag.NewFlagSet(c.Name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	help := fs.BoolP("help", "h", false, "show this help")
	if c.Flags != nil {
		c.Flags(fs)
	}
	if err := fs.Parse(args[1:]); err != nil {
		fmt.Fprintf(env.Stderr, "quantmcu %s: %v; run 'quantmcu help %s'\n", c.Name, err, c.Name)
		return ExitBadInput
	}
	if *help {
		printCommandHelp(env.Stdout, c)
		return ExitOK
	}
	err := c.Run(env, fs, fs.Args())
	if err == nil {
		return ExitOK
	}
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	if len(msg) > maxMessage {
		msg = fmt.Sprintf("%s... (%d more bytes)", strings.ToValidUTF8(msg[:maxMessage], ""), len(msg)-maxMessage)
	}
	fmt.Fprintf(env.Stderr, "quantmcu %s: %s\n", c.Name, msg)
	if IsBadInput(err) {
		return ExitBadInput
	}
	return ExitInternal
}

func find(cmds []*Command, name string) *Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func printOverview(w io.Writer, cmds []*Command) {
	fmt.Fprintf(w, `quantmcu %s - patch-based memory optimizer for TFLite Micro models

Usage:
  quantmcu COMMAND [ARGS] [FLAGS]

Commands:
`, Version)
	for _, c := range cmds {
		if !c.Hidden {
			fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Summary)
		}
	}
	fmt.Fprint(w, `
Run 'quantmcu help COMMAND' for a command's flags.
Exit status: 0 success, 1 internal error, 2 bad input or usage.
`)
}

func printCommandHelp(w io.Writer, c *Command) {
	fmt.Fprintf(w, "Usage:\n  quantmcu %s\n\n%s\n", c.Usage, c.Summary)
	if c.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.Help, "\n"))
	}
	fs := pflag.NewFlagSet(c.Name, pflag.ContinueOnError)
	fs.SortFlags = false
	if c.Flags != nil {
		c.Flags(fs)
	}
	fs.BoolP("help", "h", false, "show this help")
	fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
}

// sortedKeys returns the keys of m in order (helper for deterministic output).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SelfPath returns the path of the running executable, for env.Self.
func SelfPath() string {
	p, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return p
}
