// Package keyctlbench holds two minimal programs that scripts/bench-unlock
// times as whole processes: each reads one key from the kernel's user
// keyring, xsys through golang.org/x/sys/unix (as credmgr unlock does) and
// designs99 through github.com/99designs/keyring's keyctl backend, whose
// package initialisation also runs (it dials D-Bus).
package keyctlbench
