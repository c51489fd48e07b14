package cli

import (
	"strings"

	"github.com/spf13/pflag"

	"github.com/quantmcu/quantmcu/plugin"
	"github.com/quantmcu/quantmcu/plugin/builtin"
)

// servePluginCommand is the entry point of the built-in plugins: the plugin host starts the
// quantmcu binary itself as `quantmcu serve-plugin NAME`, so a built-in optimizer runs in its
// own process exactly like a third-party plugin.
func servePluginCommand() *Command {
	return &Command{
		Name:    "serve-plugin",
		Summary: "serve a built-in optimizer over the plugin protocol (started by the plugin host)",
		Usage:   "serve-plugin NAME",
		Hidden:  true,
		Run: func(_ *Env, _ *pflag.FlagSet, args []string) error {
			if len(args) != 1 {
				return BadInputf("want one built-in plugin name (%s)", strings.Join(builtin.Names(), ", "))
			}
			opt, ok := builtin.Lookup(args[0], Version)
			if !ok {
				return BadInputf("no built-in plugin %q (have: %s)", args[0], strings.Join(builtin.Names(), ", "))
			}
			// go-plugin owns stdout from here on (handshake line); run by hand without the
			// host's cookie it prints a hint and exits with status 1.
			plugin.Serve(opt)
			return nil
		},
	}
}
