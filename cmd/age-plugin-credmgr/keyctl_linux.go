package main

import "github.com/99designs/keyring"

// keyctlPerm gives the possessor and the user every permission on the
// keyctl holder's keyring and key, so that any process of the user can
// read the key, whichever session keyring it has.
var keyctlPerm = keyring.GetPermissions(keyring.KEYCTL_PERM_ALL, keyring.KEYCTL_PERM_ALL, 0, 0)
