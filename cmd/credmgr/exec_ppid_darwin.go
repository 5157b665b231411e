package main

import (
	"errors"

	"golang.org/x/sys/unix"
)

// parentOf returns the parent process id of process pid (sysctl
// kern.proc.pid).
func parentOf(pid int) (int, error) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return 0, err
	}
	if kp.Proc.P_pid != int32(pid) {
		return 0, errors.New("no such process")
	}
	return int(kp.Eproc.Ppid), nil
}
