package cli

import (
	"os"
)

// checkOutputDir refuses, before any work is done, an output directory that exists as
// something else (a file), so that run and optimize fail alike and early.
func checkOutputDir(flag, dir string) error {
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		return BadInputf("%s %s: exists and is not a directory", flag, dir)
	}
	return nil
}

// makeOutputDir creates dir (and its parents); a failure is the user's to fix.
func makeOutputDir(flag, dir string) error {
	if err := checkOutputDir(flag, dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return BadInputf("%s: %w", flag, err)
	}
	return nil
}
