//go:build !linux

package main

// keyctlPerm is unused where there is no kernel keyring.
const keyctlPerm = 0
