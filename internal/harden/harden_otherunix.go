//go:build unix && !linux && !darwin

package harden

func process() error { return noCore() }
