package pluginhost

import "syscall"

// dieWithParent asks the kernel to SIGKILL the child when the host dies (PR_SET_PDEATHSIG;
// Go's fork also kills a child whose parent died before the request took effect). The
// signal follows the thread that started the child; Go keeps its threads alive unless a
// goroutine exits while locked to one, which the host never does.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
