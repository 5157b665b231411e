package main

import (
	"context"
	"encoding/json"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/internal/config"
)

// backendJSON is what "credmgr backend --json" prints.
type backendJSON struct {
	// Backend is keychain, age or file; empty when none is usable.
	Backend string `json:"backend"`
	// Usable reports whether a backend could be opened.
	Usable bool `json:"usable"`
	// Source is what chose it: flag, env, config or auto.
	Source string `json:"source,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Vault and Lock are the backend's files.
	Vault string `json:"vault,omitempty"`
	Lock  string `json:"lock,omitempty"`
	Guard string `json:"guard,omitempty"`
	// DataDir is the data directory; Config is config.toml, which
	// ConfigPresent says exists.
	DataDir       string `json:"data_dir"`
	Config        string `json:"config"`
	ConfigPresent bool   `json:"config_present"`
	// Healthy reports whether the vault was read; Credentials counts
	// what it holds.
	Healthy     bool `json:"healthy"`
	Credentials int  `json:"credentials"`
	// Error says why the backend is not usable or not healthy.
	Error string `json:"error,omitempty"`
	// Warnings are leftovers of other backends.
	Warnings []string `json:"warnings,omitempty"`
}

// printBackendJSON reports what "credmgr backend" reports, as JSON on
// stdout. A backend that is not usable or not healthy is still an error
// (exit 1), after the JSON.
func (a *app) printBackendJSON(ctx context.Context, o *backends.Options) error {
	out := backendJSON{DataDir: o.DataDir, Config: config.Path(o.DataDir), ConfigPresent: a.cfg.Path != ""}
	op, err := backends.Open(ctx, *o)
	if err == nil {
		out.Backend, out.Usable, out.Source, out.Reason = op.Name, true, op.Source, op.Reason
		out.Vault, out.Lock, out.Guard = op.Path, op.Path+".lock", op.Guard
		var list []backends.Credential
		if list, err = op.Store.List(ctx); err == nil {
			out.Healthy, out.Credentials = true, len(list)
			out.Warnings = leftovers(o.DataDir, op)
		}
	}
	if err != nil {
		out.Error = err.Error()
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if encErr := enc.Encode(out); encErr != nil {
		return encErr
	}
	return a.storeError(err)
}
