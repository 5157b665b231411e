package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/internal/proxy"
	"github.com/credmgr/credmgr/migrate"
)

func (a *app) statusCmd() *cobra.Command {
	var asJSON, showSecrets bool
	cmd := &cobra.Command{
		Use:   "status [PROVIDER]",
		Short: "List stored credentials without their secrets",
		Long: `Status lists every stored credential (or those of PROVIDER): provider,
account, type, expiry (absolute and relative), where it came from, and the
backend that holds it. Secrets are shown only with --json --show-secrets.

Without PROVIDER and --json, it then lists the tools credmgr connect knows
that are installed or configured here: whether each takes its credentials
from credmgr (credmgr connect lists every tool; --json too).`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: a.providerCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			if showSecrets && !asJSON {
				return withHint(exitUsage, fmt.Errorf("--show-secrets needs --json"), "add --json: credmgr status --json --show-secrets")
			}
			var provider string
			if len(args) == 1 {
				p, err := canonicalProvider(args[0])
				if err != nil {
					return err
				}
				provider = p
			}
			// No usable backend is an error here as in every command,
			// even when nothing is stored yet: the hint says how to
			// choose one.
			op, err := a.store(cmd.Context())
			if errors.Is(err, backends.ErrNoBackend) && provider == "" && !asJSON {
				// The tools credmgr connect knows are worth listing even
				// before a backend is chosen.
				a.printToolsSection()
			}
			if err != nil {
				return err
			}
			all, err := op.Store.List(cmd.Context())
			if err != nil {
				return a.storeError(err)
			}
			if st := a.unlockState(op, true); st != "" {
				fmt.Fprintf(a.stderr, "credmgr: vault %s\n", st)
			}
			var list []backends.Credential
			for _, c := range all {
				if c.Provider == proxy.KeyProvider {
					continue // proxy keys: credmgr proxy key list
				}
				if provider == "" || c.Provider == provider {
					list = append(list, c)
				}
			}
			now := time.Now()
			if asJSON {
				out := make([]statusJSON, 0, len(list))
				for _, c := range list {
					out = append(out, newStatusJSON(c, op.Name, now, showSecrets))
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return err
				}
			} else if len(list) > 0 {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PROVIDER\tACCOUNT\tTYPE\tEXPIRES\tSOURCE\tBACKEND")
				for _, c := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Provider, c.Account, c.Type, describeExpiry(c, now), orDash(c.Source), op.Name)
				}
				tw.Flush()
			}
			if provider == "" && !asJSON {
				a.printToolsSection()
			}
			if len(list) == 0 {
				if provider != "" {
					return withHint(exitNoCreds, fmt.Errorf("no credential for %s", provider), loginHint(backends.Ref{Provider: provider, Account: backends.DefaultAccount}))
				}
				if !asJSON {
					fmt.Fprintf(a.stderr, "credmgr: no credentials stored (backend %s)\n", op.Name)
					fmt.Fprintln(a.stderr, "credmgr: hint: credmgr login PROVIDER, credmgr import PROVIDER, or credmgr migrate")
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&showSecrets, "show-secrets", false, "include tokens and keys in the JSON output")
	return cmd
}

type statusJSON struct {
	Provider     string            `json:"provider"`
	Account      string            `json:"account"`
	Type         string            `json:"type"`
	Expiry       *time.Time        `json:"expiry"`
	Expired      bool              `json:"expired"`
	ExpiresIn    *int64            `json:"expires_in_seconds,omitempty"`
	Source       string            `json:"source,omitempty"`
	Backend      string            `json:"backend"`
	UpdatedAt    *time.Time        `json:"updated_at,omitempty"`
	AccountID    string            `json:"account_id,omitempty"`
	Scopes       []string          `json:"scopes,omitempty"`
	Extra        map[string]string `json:"extra,omitempty"`
	AccessToken  string            `json:"access_token,omitempty"`
	RefreshToken string            `json:"refresh_token,omitempty"`
	IDToken      string            `json:"id_token,omitempty"`
}

func newStatusJSON(c backends.Credential, backend string, now time.Time, secrets bool) statusJSON {
	s := statusJSON{
		Provider: c.Provider, Account: c.Account, Type: string(c.Type),
		Source: c.Source, Backend: backend, AccountID: c.AccountID,
		Scopes: c.Scopes, Extra: c.Extra,
	}
	if !c.Expiry.IsZero() {
		e := c.Expiry.UTC()
		s.Expiry = &e
		s.Expired = c.Expired(now, 0)
		in := secondsUntil(c.Expiry, now)
		s.ExpiresIn = &in
	}
	if !c.UpdatedAt.IsZero() {
		u := c.UpdatedAt.UTC()
		s.UpdatedAt = &u
	}
	if secrets {
		s.AccessToken, s.RefreshToken, s.IDToken = c.AccessToken, c.RefreshToken, c.IDToken
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// secondsUntil is t-now in whole seconds (rounded), exact for any two
// times: unlike time.Time.Sub it does not saturate at about 292 years.
func secondsUntil(t, now time.Time) int64 {
	s := t.Unix() - now.Unix()
	ns := t.Nanosecond() - now.Nanosecond() // in (-1e9, 1e9)
	switch {
	case ns >= 5e8:
		s++
	case ns < -5e8:
		s--
	}
	return s
}

// describeExpiry renders an expiry as "2030-01-01 00:00 UTC (in 3y)" or
// "… (expired 2h ago)", "… (expired long ago)" past a century;
// credentials without one show "never" (API keys) or "unknown".
func describeExpiry(c backends.Credential, now time.Time) string {
	if c.Expiry.IsZero() {
		if c.Type == backends.TypeAPIKey {
			return "never"
		}
		return "unknown"
	}
	abs := c.Expiry.UTC().Format("2006-01-02 15:04 UTC")
	s := secondsUntil(c.Expiry, now)
	expired := !c.Expiry.After(now) // as Expired(now, 0) and the JSON say
	switch {
	case expired && s <= -centurySeconds:
		return abs + " (expired long ago)"
	case expired:
		return fmt.Sprintf("%s (expired %s ago)", abs, humanSeconds(-s))
	case s >= centurySeconds:
		return abs + " (in over 100y)"
	}
	return fmt.Sprintf("%s (in %s)", abs, humanSeconds(s))
}

// centurySeconds is about a hundred years, past which describeExpiry
// stops counting.
const centurySeconds = 100 * 365 * 86400

// humanSeconds words a non-negative number of seconds below
// centurySeconds: 42s, 5m, 3h07m, 12d, 3y.
func humanSeconds(s int64) string {
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm", s/60)
	case s < 48*3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s/60%60)
	case s < 2*365*86400:
		return fmt.Sprintf("%dd", s/86400)
	}
	return fmt.Sprintf("%dy", s/(365*86400))
}

// nothingStored reports whether the data directory holds no vault of any
// backend.
func (a *app) nothingStored() bool {
	o, err := a.options()
	if err != nil {
		return false
	}
	for _, name := range []string{agefile.FileName, jsonfile.FileName} {
		if _, err := os.Lstat(filepath.Join(o.DataDir, name)); err == nil {
			return false
		}
	}
	return true
}

// printToolsSection lists, after a blank line, the tools connect knows
// that are installed, configured or connected here (nothing when there is
// none).
func (a *app) printToolsSection() {
	o, err := a.toolOptions()
	if err != nil {
		return
	}
	var st []migrate.ToolStatus
	for _, s := range migrate.Statuses(o) {
		if s.Installed != "" || s.ConfigDir != "" || s.Mode != "" || s.Err != "" {
			st = append(st, s)
		}
	}
	if len(st) > 0 {
		fmt.Fprintln(a.stdout)
		printTools(a.stdout, st)
	}
}
