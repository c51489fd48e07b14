// Package boundedread reads whole files with a size limit enforced on the bytes actually
// read, not on what stat reports: devices and pipes (/dev/zero, a FIFO, /proc files) report
// size 0 and would otherwise be read without end.
package boundedread

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// StreamLimit caps what is read from anything that is not a regular file (devices, pipes),
// whatever limit the caller allows: such sources have no size to check in advance.
const StreamLimit = 256 << 20

// headSize is how many leading bytes File hands to the head check.
const headSize = 512

// ErrTooLarge is wrapped by the error File returns for a source beyond its limit.
var ErrTooLarge = errors.New("too large")

// File returns the contents of path, refusing more than limit bytes (StreamLimit for a
// device or pipe, if smaller). what names the kind of file in errors ("a model", "an
// input").
// head, when not nil, sees the first bytes (up to 512, fewer for a shorter file) before
// the rest is read, so that a source with an impossible header is refused at once. Errors
// name path.
func File(path string, limit int64, what string, head func([]byte) error) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not %s", path, what)
	}
	regular := fi.Mode().IsRegular()
	if !regular {
		limit = min(limit, StreamLimit)
	}
	tooLarge := func() error {
		return fmt.Errorf("%s: %w: more than %s, the most quantmcu reads for %s", path, ErrTooLarge, Size(limit), what)
	}
	if regular && fi.Size() > limit {
		return nil, tooLarge()
	}
	var buf bytes.Buffer
	if regular {
		buf.Grow(int(fi.Size()) + 1)
	}
	r := io.LimitReader(f, limit+1)
	if head != nil {
		if _, err := io.CopyN(&buf, r, headSize); err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := head(buf.Bytes()); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(buf.Len()) > limit {
		return nil, tooLarge()
	}
	return buf.Bytes(), nil
}

// Size formats a byte count for messages: "4 GiB", "256 MiB", "12 KiB" when exact, else
// "1234567 bytes".
func Size(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
