package loadtest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the server get SIGTERM if this process dies first
// (a panic, a kill): a spawned server never outlives its load test.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
