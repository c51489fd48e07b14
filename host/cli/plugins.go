package cli

// pluginsCommand is a placeholder until its issue lands; its owner replaces this file.
func pluginsCommand() *Command {
	return &Command{Name: "plugins", Summary: "(not available yet)", Usage: "plugins", Hidden: true,
		Run: notYet}
}
