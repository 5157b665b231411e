package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// cobraSuggestions matches cobra's unknown-command error with its
// "Did you mean this?" list. (A pattern, compiled on this error path
// rather than when the program starts.)
const cobraSuggestions = `(?s)^(unknown command "[^"]*" for "([^"]*)")\s*Did you mean this\?\s*(.*)$`

// cutSuggestions turns cobra's multi-line "Did you mean this?" list into
// one hint ("did you mean credmgr status?"), leaving the one-line error.
func cutSuggestions(msg string) (string, string) {
	m := regexp.MustCompile(cobraSuggestions).FindStringSubmatch(msg)
	if m == nil {
		return msg, ""
	}
	var cmds []string
	for _, f := range strings.Fields(m[3]) {
		cmds = append(cmds, m[2]+" "+f)
	}
	if len(cmds) == 0 {
		return m[1], ""
	}
	return m[1], "did you mean " + strings.Join(cmds, " or ") + "?"
}

// wrongKeyHint is the hint for a vault the key did not open: a passphrase
// typed at the prompt is simply typed again; otherwise the key sources are
// named.
func (a *app) wrongKeyHint() string {
	if a.opened != nil && strings.Contains(a.opened.Guard, " from a terminal prompt") {
		return "the passphrase typed does not open this vault (nothing was changed): run the command again and type the vault's passphrase"
	}
	return "check CREDMGR_PASSPHRASE / CREDMGR_PASSPHRASE_FILE / CREDMGR_AGE_IDENTITY"
}

// missingKeyFileHint names the setting behind a key file that does not
// exist: CREDMGR_AGE_IDENTITY, age_identity in config.toml, or
// CREDMGR_PASSPHRASE_FILE. It returns "" for other errors.
func (a *app) missingKeyFileHint(err error) string {
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) {
		return ""
	}
	create := "; age-keygen -o FILE creates a new identity (a new identity cannot open an existing vault)"
	if v := os.Getenv("CREDMGR_AGE_IDENTITY"); v != "" {
		if slices.Contains(filepath.SplitList(v), pe.Path) {
			return "CREDMGR_AGE_IDENTITY names " + pe.Path + ", which does not exist: set it to your age identity file" + create
		}
	} else if a.cfg != nil && len(a.cfg.AgeIdentity) > 0 && strings.Contains(err.Error(), "age identity file") {
		return "age_identity in " + a.cfg.Path + " names " + pe.Path + ", which does not exist: fix it, or set CREDMGR_AGE_IDENTITY to your age identity file" + create
	}
	if v := os.Getenv("CREDMGR_PASSPHRASE_FILE"); v != "" && v == pe.Path {
		return "CREDMGR_PASSPHRASE_FILE names " + pe.Path + ", which does not exist: set it to the file holding the vault passphrase"
	}
	return ""
}
