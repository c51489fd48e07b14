package cli

func inspectCommand() *Command {
	return &Command{Name: "inspect", Summary: "describe a .tflite model", Usage: "inspect MODEL", Run: notYet}
}
