package harden

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

func process() error {
	var errs []error
	if err := noCore(); err != nil {
		errs = append(errs, err)
	}
	// As ssh-agent does; a process already being traced exits here.
	if err := unix.PtraceDenyAttach(); err != nil {
		errs = append(errs, fmt.Errorf("ptrace(PT_DENY_ATTACH): %w", err))
	}
	return errors.Join(errs...)
}
