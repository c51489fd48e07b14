package boundedread

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegularFileAtAndBeyondTheLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, bytes.Repeat([]byte{7}, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := File(p, 1000, "a test file", nil)
	if err != nil || len(got) != 1000 || got[999] != 7 {
		t.Fatalf("at the limit: %d bytes, %v", len(got), err)
	}
	_, err = File(p, 999, "a test file", nil)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than 999 bytes, the most quantmcu reads for a test file") {
		t.Errorf("beyond the limit: %v", err)
	}
	if _, err := File(t.TempDir(), 10, "a test file", nil); err == nil || !strings.Contains(err.Error(), "is a directory, not a test file") {
		t.Errorf("directory: %v", err)
	}
}

// /dev/zero reports size 0 and never ends: the limit counts the bytes read.
func TestDeviceIsBoundedByBytesRead(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	_, err := File("/dev/zero", 1<<20, "a test file", nil)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/dev/zero: too large: more than 1 MiB") {
		t.Errorf("got %v", err)
	}
	// A generous limit is still capped for streams.
	_, err = File("/dev/zero", 1<<40, "a test file", nil)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than 256 MiB") {
		t.Errorf("got %v", err)
	}
	// The head check sees the first 512 bytes and stops the read at once.
	var seen int
	_, err = File("/dev/zero", 1<<30, "a test file", func(h []byte) error { seen = len(h); return errors.New("all zero") })
	if seen != 512 || err == nil || err.Error() != "/dev/zero: all zero" {
		t.Errorf("head check: saw %d bytes, %v", seen, err)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{4 << 30: "4 GiB", 256 << 20: "256 MiB", 3 << 10: "3 KiB", 1000: "1000 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
