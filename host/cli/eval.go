package cli

// evalCommand is a placeholder until its issue lands; its owner replaces this file.
func evalCommand() *Command {
	return &Command{Name: "eval", Summary: "(not available yet)", Usage: "eval", Hidden: true,
		Run: notYet}
}
