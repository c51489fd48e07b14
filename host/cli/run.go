package cli

// runCommand is a placeholder until its issue lands; its owner replaces this file.
func runCommand() *Command {
	return &Command{Name: "run", Summary: "(not available yet)", Usage: "run", Hidden: true,
		Run: notYet}
}
