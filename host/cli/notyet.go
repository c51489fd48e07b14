package cli

import (
	"errors"

	"github.com/spf13/pflag"
)

// notYet is the Run of commands whose implementation has not landed yet.
func notYet(*Env, *pflag.FlagSet, []string) error {
	return errors.New("this command is not available in this build yet")
}
