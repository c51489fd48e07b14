package pluginhost

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Bounds of the stderr kept per plugin.
const (
	tailLines   = 64
	tailLineMax = 1000
)

// stderrTail keeps the last lines a plugin wrote to stderr.
type stderrTail struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
}

func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range p {
		if c == '\n' {
			t.push(string(t.partial))
			t.partial = t.partial[:0]
			continue
		}
		if len(t.partial) < tailLineMax {
			t.partial = append(t.partial, c)
		}
	}
	return len(p), nil
}

func (t *stderrTail) push(line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > tailLines {
		t.lines = append(t.lines[:0], t.lines[len(t.lines)-tailLines:]...)
	}
}

// Summary condenses the tail for a one-line error: the panic message if the plugin panicked,
// otherwise its last three lines; hclog JSON lines are shown as "level: message key=value".
func (t *stderrTail) Summary() string {
	t.mu.Lock()
	lines := append([]string(nil), t.lines...)
	if len(t.partial) > 0 {
		lines = append(lines, strings.TrimSpace(string(t.partial)))
	}
	t.mu.Unlock()
	for i, l := range lines {
		lines[i] = renderLogLine(l)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return clip(l)
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return clip(strings.Join(lines, " | "))
}

func clip(s string) string {
	const max = 600
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// renderLogLine turns an hclog JSON line into "level: message key=value ..." (stack traces
// and timestamps left out); other lines are returned unchanged.
func renderLogLine(line string) string {
	if !strings.HasPrefix(line, "{") {
		return line
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(line), &entry); err != nil {
		return line
	}
	msg, _ := entry["@message"].(string)
	level, _ := entry["@level"].(string)
	var keys []string
	for k := range entry {
		if !strings.HasPrefix(k, "@") && k != "stack" && k != "timestamp" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	if level != "" {
		b.WriteString(level + ": ")
	}
	b.WriteString(msg)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, entry[k])
	}
	return b.String()
}
