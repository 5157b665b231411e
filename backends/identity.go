package backends

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"

	"github.com/credmgr/credmgr/internal/config"
)

// envIdentities returns the identity files CREDMGR_AGE_IDENTITY names, as
// absolute paths, or nil when it is unset.
func envIdentities(o *Options) []string {
	if o.getenv("CREDMGR_AGE_IDENTITY") == "" {
		return nil
	}
	var out []string
	for _, f := range identityFiles(o) {
		if abs, err := filepath.Abs(f); err == nil {
			f = abs
		}
		out = append(out, f)
	}
	return out
}

// recordIdentities writes files as age_identity in config.toml, so that
// shells and agents without CREDMGR_AGE_IDENTITY find the vault's key. An
// age_identity already there is kept unless replace. It reports whether
// config.toml changed. Callers hold the lock of vault.age, which every
// writer of config.toml holds (a backend switch holds every vault lock).
func recordIdentities(dataDir string, files []string, replace bool) (bool, error) {
	path := config.Path(dataDir)
	cfg, err := config.Load(path)
	if err != nil {
		return false, err
	}
	if len(cfg.AgeIdentity) > 0 && (!replace || slices.Equal([]string(cfg.AgeIdentity), files)) {
		return false, nil
	}
	if err := config.SetTopLevelList(path, "age_identity", files); err != nil {
		return false, fmt.Errorf("recording age_identity in %s: %w", path, err)
	}
	return true, nil
}

// recordOnCreate returns the AfterWrite hook of an age vault that did not
// exist when it was opened, sealed to identities from CREDMGR_AGE_IDENTITY
// while config.toml names none: its first write records them there (see
// recordIdentities).
func recordOnCreate(o *Options, files []string) func(string) {
	var once sync.Once
	return func(string) {
		once.Do(func() {
			changed, err := recordIdentities(o.DataDir, files, false)
			switch {
			case err != nil:
				fmt.Fprintf(o.warn(), "credmgr: warning: the new vault is sealed to CREDMGR_AGE_IDENTITY, but it could not be recorded in config.toml: %v\n", err)
			case changed:
				fmt.Fprintf(o.warn(), "credmgr: recorded age_identity = %q in %s, so that shells and agents without CREDMGR_AGE_IDENTITY find the vault's key\n", files, config.Path(o.DataDir))
			}
		})
	}
}
