//go:build !linux

package pluginhost

import "syscall"

// dieWithParent has no kernel help outside Linux: there, only the stdin lifeline ends
// plugins whose host died (SDK plugins watch it).
func dieWithParent() *syscall.SysProcAttr { return nil }
