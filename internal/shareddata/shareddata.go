// Package shareddata is the tests' and benchmarks' way to skip when ../shared/data (the
// real third-party models, inputs and reference outputs the project never copies into the
// repository) is absent.
package shareddata

import (
	"fmt"
	"os"
	"testing"
)

// Skip skips tb with the reason. go test -bench prints nothing for a skipped benchmark
// unless -v is given, so a benchmark run would silently measure nothing; for benchmarks
// Skip therefore also prints the reason on standard output.
func Skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if _, ok := tb.(*testing.B); ok {
		fmt.Fprintf(os.Stdout, "--- SKIP: %s: %s\n", tb.Name(), msg)
	}
	tb.Skip(msg)
}
