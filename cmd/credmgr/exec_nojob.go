//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import (
	"os/exec"
	"syscall"
)

// job is not used here: exec's child shares credmgr's process group (and
// signalReachedChild keeps a Ctrl-C from reaching it twice).
type job struct{}

func foregroundJob() *job                        { return nil }
func (j *job) prepare(*exec.Cmd)                 {}
func (j *job) close()                            {}
func (j *job) wait(*exec.Cmd) (childExit, error) { return childExit{}, nil }
func (j *job) interrupted(syscall.Signal)        {}
