package cli

// optimizeCommand is a placeholder until its issue lands; its owner replaces this file.
func optimizeCommand() *Command {
	return &Command{Name: "optimize", Summary: "(not available yet)", Usage: "optimize", Hidden: true,
		Run: notYet}
}
