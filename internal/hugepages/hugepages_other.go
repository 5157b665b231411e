//go:build !linux

package hugepages

func prepare(int) bool { return false }
