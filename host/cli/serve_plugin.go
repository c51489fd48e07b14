package cli

// servePluginCommand is a placeholder until its issue lands; its owner replaces this file.
func servePluginCommand() *Command {
	return &Command{Name: "serve-plugin", Summary: "(not available yet)", Usage: "servePlugin", Hidden: true,
		Run: notYet}
}
