package tflite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 10: `inspect /dev/zero` read without end because stat reports size 0 for devices.
// The first word already shows it is no model; a device that looks like one is still
// capped by the bytes read.
func TestLoadFromDeviceEndsAtOnce(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	_, err := Load("/dev/zero")
	if err == nil || err.Error() != "/dev/zero: not a TFLite model: FlatBuffer root offset 0 is impossible" {
		t.Errorf("got %v", err)
	}
	if _, err := ReadFile("/dev/zero", 100); err == nil || !strings.Contains(err.Error(), "FlatBuffer root offset 0") {
		t.Errorf("ReadFile: %v", err)
	}
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "is a directory, not a .tflite model") {
		t.Errorf("directory: %v", err)
	}
	// A plausible head followed by more bytes than allowed.
	p := filepath.Join(dir, "big.tflite")
	head := []byte{16, 0, 0, 0, 'T', 'F', 'L', '3'}
	if err := os.WriteFile(p, append(head, make([]byte, 100)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p, 64); err == nil || !strings.Contains(err.Error(), "more than 64 bytes, the most quantmcu reads for a .tflite model") {
		t.Errorf("too large: %v", err)
	}
}
