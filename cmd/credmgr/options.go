package main

import (
	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/internal/config"
)

// loadOptions returns the Options for this process: the data directory
// from CREDMGR_HOME or the platform default, and config.toml from there.
func loadOptions() (backends.Options, *config.Config, error) {
	dir, err := config.DataDir()
	if err != nil {
		return backends.Options{}, nil, err
	}
	cfg, err := config.Load(config.Path(dir))
	if err != nil {
		return backends.Options{}, nil, err
	}
	return optionsFromConfig(dir, cfg), cfg, nil
}

// optionsFromConfig turns a parsed config.toml into Options.
func optionsFromConfig(dir string, cfg *config.Config) backends.Options {
	return backends.Options{
		DataDir:            dir,
		ConfigBackend:      cfg.Backend,
		KeychainTimeout:    cfg.KeychainTimeout.Duration,
		LockTimeout:        cfg.LockTimeout.Duration,
		PlaintextOK:        cfg.PlaintextOK,
		AgeIdentities:      cfg.AgeIdentity,
		RecoveryRecipients: cfg.RecoveryRecipients,
		KeyHolder:          cfg.KeyHolder,
	}
}
