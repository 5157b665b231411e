// Package migrate moves the plaintext token files that other coding agents
// left in a home directory (pi, llxprt-code, AgentOS, Codex CLI, Claude
// Code, gemini-cli, qwen-code, flynn) into a credmgr store, losing nothing:
//
//   - every credential is written to the store in one locked, durable
//     write, and read back and compared before any source is touched;
//   - a source file is removed only when every secret in it is in the
//     store, and never with Keep or DryRun;
//   - files that are unreadable, corrupt, empty or symlinks are reported
//     and left as they are;
//   - a source file is removed only if it still holds the bytes that were
//     read; a file its tool rewrote meanwhile (a rotated token) stays, and
//     is reported;
//   - a credential already stored for the same login is replaced only by a
//     newer one (a later expiry, or the same expiry and a later update
//     time that the file itself records) or with Overwrite. A tie keeps
//     the stored credential and the source file, and is reported; a
//     different login (another account id or e-mail, or an API key beside
//     an OAuth login) goes to another account;
//   - one file or entry that cannot be stored exactly (an expiry past the
//     year 9999, text that is not UTF-8) is reported and left in place;
//     the rest of the run goes on.
//
// Killed at any moment, a re-run finishes the job: sources go only after
// the store write is durable, and credentials already stored count as
// imported. A re-run after a complete run changes nothing.
package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/internal/fsutil"
)

// Options configures a run.
type Options struct {
	// Home is the home directory to search.
	Home string
	// Getenv reads tool-specific variables (PI_CODING_AGENT_DIR,
	// CODEX_HOME); nil means os.Getenv, as in backends.Options and
	// ui.Terminal. NoEnv reads none (another user's home).
	Getenv func(string) string
	// Tools limits the importers (nil: all).
	Tools []string
	// DryRun reports the plan and changes nothing.
	DryRun bool
	// Keep leaves every source file in place.
	Keep bool
	// Overwrite replaces stored credentials of the same login even when
	// they are newer.
	Overwrite bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// BeforeRemove, if set, is called just before a source file is
	// removed (never with Keep or DryRun).
	BeforeRemove func(tool, path string)
}

// Actions in a report row.
const (
	ActImport     = "import"     // stored (new)
	ActReplace    = "replace"    // stored over an older credential of the same login
	ActSame       = "same"       // already stored
	ActSuperseded = "superseded" // a newer credential of the same login is kept
	ActConflict   = "conflict"   // the same login, neither newer: the stored one is kept
	ActSkip       = "skip"       // an entry that cannot be imported
	ActError      = "error"      // the file cannot be used
	ActRemove     = "remove"     // the source file was removed
	ActKeep       = "keep"       // the source file stays
)

// Row is one line of the report.
type Row struct {
	Tool   string `json:"tool"`
	File   string `json:"file"`
	Ref    string `json:"credential,omitempty"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// Report is what a run did (or, with DryRun, would do).
type Report struct {
	Rows []Row `json:"rows"`
	// LeftBehind counts files that stay for a reason other than Keep,
	// DryRun or a newer stored credential: their contents could not all be
	// imported.
	LeftBehind int  `json:"left_behind"`
	DryRun     bool `json:"dry_run"`
	// Connect lists the tools whose token file was removed (with DryRun:
	// would be) that credmgr connect knows and that are not connected:
	// each needs `credmgr connect TOOL` to keep working.
	Connect []ConnectHint `json:"connect,omitempty"`
}

// ConnectHint is a tool to connect, and the account its credentials went
// to.
type ConnectHint struct {
	Tool    string `json:"tool"`
	Account string `json:"account"`
}

// Command is the credmgr command line that connects the tool.
func (h ConnectHint) Command() string {
	c := "credmgr connect " + h.Tool
	if h.Account != "" && h.Account != backends.DefaultAccount {
		c += " --account " + h.Account
	}
	return c
}

// source is one legacy file found.
type source struct {
	tool, path string
	data       []byte // the bytes read, to check before removing the file
	creds      []backends.Credential
	timed      []bool         // whether the file gave each credential's update time
	grantHeld  []bool         // a conflict whose refresh token the stored credential holds
	refs       []backends.Ref // where each credential goes
	actions    []string
	reasons    []string
	skips      []Skip
	err        error
	exposed    bool
}

// testHookBeforeRemove, when set, runs just before a source file is
// checked and removed (tests rewrite the file there).
var testHookBeforeRemove func(path string)

// Run finds the legacy files, imports them into store and removes what was
// fully imported. With DryRun, store may be nil (no backend is usable
// yet): the plan then assumes an empty store.
func Run(ctx context.Context, store backends.Store, opts Options) (*Report, error) {
	ed, ok := store.(backends.Editor)
	if !ok && !(opts.DryRun && store == nil) {
		return nil, errors.New("migrate needs a store that can write many credentials at once")
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	importers, err := selectImporters(opts.Tools)
	if err != nil {
		return nil, err
	}
	sources := discover(importers, opts)
	rep := &Report{DryRun: opts.DryRun}
	if len(sources) == 0 {
		return rep, nil
	}

	stamp := now().UTC().Truncate(time.Second)
	var planned map[string]backends.Credential
	apply := func(tx *backends.Tx) error {
		planned = plan(tx.List(), sources, opts.Overwrite, stamp)
		if opts.DryRun {
			return nil
		}
		for _, c := range planned {
			if err := tx.Put(c); err != nil {
				return fmt.Errorf("storing %s: %w", c.Ref(), err)
			}
		}
		return nil
	}
	if opts.DryRun {
		var list []backends.Credential
		if store != nil {
			if list, err = store.List(ctx); err != nil {
				return nil, err
			}
		}
		planned = plan(list, sources, opts.Overwrite, stamp)
	} else if err := ed.Edit(ctx, apply); err != nil {
		return nil, err
	}

	// Read everything back from the store before touching any source.
	var stored map[string]backends.Credential
	if !opts.DryRun {
		list, err := store.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the store back (no source was removed): %w", err)
		}
		stored = map[string]backends.Credential{}
		for _, c := range list {
			stored[c.Ref().String()] = c
		}
	}
	// A credential that did not read back as written keeps the sources
	// that hold it (in a dry run, nothing was written).
	intact := func(ref backends.Ref) bool {
		c, ok := planned[ref.String()]
		if !ok || opts.DryRun {
			return true
		}
		got, ok := stored[ref.String()]
		return ok && sameStored(got, c)
	}

	dirs := map[string]bool{}
	for _, s := range sources {
		rep.Rows = append(rep.Rows, s.rows()...)
		action, reason, left := s.disposal(opts, stored, intact)
		if action == ActRemove && !opts.DryRun {
			if opts.BeforeRemove != nil {
				opts.BeforeRemove(s.tool, s.path)
			}
			if testHookBeforeRemove != nil {
				testHookBeforeRemove(s.path)
			}
			switch st, err := removeIfUnchanged(s.path, s.data); {
			case err != nil:
				action, reason, left = ActKeep, "could not remove it: "+unwrapPath(err).Error(), true
			case st == fileChanged:
				action, reason, left = ActKeep, "left in place: it changed after it was read (its tool may have rotated the token), so what it holds now was not imported; run credmgr migrate again", true
			case st == fileGone:
				reason = "every secret in it is in the store; another program had removed it already"
			default:
				dirs[filepath.Dir(s.path)] = true
			}
		}
		if action == ActKeep && left {
			rep.LeftBehind++
		}
		rep.Rows = append(rep.Rows, Row{Tool: s.tool, File: s.path, Action: action, Reason: reason})
		if action == ActRemove {
			rep.addConnect(s, opts)
		}
	}
	// Make the removals durable, once per directory. A removal lost in a
	// crash is harmless: the file's secrets are in the store, and a re-run
	// finds them there.
	for d := range dirs {
		fsutil.SyncDir(d)
	}
	return rep, nil
}

func selectImporters(tools []string) ([]Importer, error) {
	if len(tools) == 0 {
		return Importers, nil
	}
	var out []Importer
	for _, t := range tools {
		found := false
		for _, im := range Importers {
			if im.Tool == t {
				out = append(out, im)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w %q: choose from %s", ErrUnknownTool, t, strings.Join(Tools(), ", "))
		}
	}
	return out, nil
}

// discover reads every candidate file that exists.
func discover(importers []Importer, opts Options) []*source {
	var out []*source
	seen := map[string]bool{}
	for _, im := range importers {
		for _, path := range im.Files(opts.Home, orOSGetenv(opts.Getenv)) {
			if seen[path] {
				continue
			}
			fi, err := os.Lstat(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			seen[path] = true
			s := &source{tool: im.Tool, path: path}
			out = append(out, s)
			switch {
			case err != nil:
				s.err = err
				continue
			case fi.Mode()&fs.ModeSymlink != 0:
				s.err = errors.New("it is a symlink; credmgr does not follow symlinks to token files (import the file it points to with --home, or replace the link)")
				continue
			case !fi.Mode().IsRegular():
				s.err = errors.New("not a regular file")
				continue
			}
			s.exposed = runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0
			data, err := readNoFollow(path)
			if err != nil {
				s.err = fmt.Errorf("cannot read it: %w", unwrapPath(err))
				continue
			}
			if len(strings.TrimSpace(string(data))) == 0 {
				s.err = errors.New("the file is empty")
				continue
			}
			creds, skips, err := im.Parse(path, data)
			if err != nil {
				s.err = err
				continue
			}
			s.data, s.skips = data, skips
			for _, c := range creds {
				c.Source = "migrate:" + im.Tool + ":" + strings.ToValidUTF8(path, "\uFFFD")
				if err := storable(c); err != nil {
					s.skips = append(s.skips, Skip{Entry: c.Ref().String(), Reason: err.Error()})
					continue
				}
				s.creds = append(s.creds, c)
				s.timed = append(s.timed, !c.UpdatedAt.IsZero())
			}
		}
	}
	return out
}

// storable reports whether c can be stored and read back exactly, so that
// one bad entry never fails the write of all the others. Validate refuses
// what the vault encoding cannot hold (text that is not UTF-8, times
// outside the years 0000 to 9999); what it accepts, the vault encodes and
// decodes back to the same JSON (TestStorableRoundTrip).
func storable(c backends.Credential) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if _, err := json.Marshal(c); err != nil {
		return fmt.Errorf("credential %s cannot be stored: %w", c.Ref(), err)
	}
	return nil
}

// sameStored reports whether a and b are stored as the same bytes.
func sameStored(a, b backends.Credential) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// removeIfUnchanged removes path if it still holds exactly the bytes that
// were read (whatever its inode or modification time: a rewrite within the
// file system's timestamp granularity keeps both). A file that changed
// since, or is no longer a regular file, stays: its new contents were not
// imported. Nothing is followed through a symlink. The compare happens
// just before the removal, so the window in which a rewrite goes unnoticed
// shrinks from the whole run to the few system calls between the two;
// POSIX offers no compare-and-unlink that would close it.
func removeIfUnchanged(path string, read []byte) (fileState, error) {
	// Lstat first, so that a symlink or FIFO put in its place is neither
	// followed nor opened (opening a FIFO would block).
	lfi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileGone, nil
	}
	if err != nil {
		return 0, err
	}
	if !lfi.Mode().IsRegular() || lfi.Size() != int64(len(read)) {
		return fileChanged, nil
	}
	f, err := fsutil.OpenNoFollow(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileGone, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() || fi.Size() != int64(len(read)) {
		return fileChanged, nil
	}
	now, err := io.ReadAll(io.LimitReader(f, int64(len(read))+1))
	if err != nil {
		return 0, err
	}
	if !bytes.Equal(now, read) {
		return fileChanged, nil
	}
	if err := os.Remove(path); err != nil {
		return 0, err
	}
	return fileRemoved, nil
}

// fileState is what removeIfUnchanged found.
type fileState int

const (
	fileRemoved fileState = iota + 1 // it held the bytes read, and was removed
	fileChanged                      // it holds something else now, and stays
	fileGone                         // another program removed it
)

func readNoFollow(path string) ([]byte, error) {
	f, err := fsutil.OpenNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 16<<20))
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// plan decides where each found credential goes, given what the store
// holds, and returns the credentials to write.
func plan(existing []backends.Credential, sources []*source, overwrite bool, stamp time.Time) map[string]backends.Credential {
	cur := map[string]backends.Credential{}
	origin := map[string]*source{} // which source planned a ref in this run
	for _, c := range existing {
		cur[c.Ref().String()] = c
	}
	out := map[string]backends.Credential{}
	for _, s := range sources {
		s.refs = make([]backends.Ref, len(s.creds))
		s.actions = make([]string, len(s.creds))
		s.reasons = make([]string, len(s.creds))
		s.grantHeld = make([]bool, len(s.creds))
		for i, c := range s.creds {
			timed := i < len(s.timed) && s.timed[i]
			if c.UpdatedAt.IsZero() {
				c.UpdatedAt = stamp
			}
			ref := c.Ref()
			action, reason := ActImport, ""
			for {
				old, ok := cur[ref.String()]
				if !ok {
					break
				}
				if sameSecret(old, c) {
					action, reason = ActSame, "already stored"
					if o := origin[ref.String()]; o != nil {
						// Not in the store before this run: another
						// file of this run holds it too.
						reason = "the same credential as in " + o.path
					}
					if m, added := enrich(old, c); len(added) > 0 {
						// Same tokens, but this file knows more (an id
						// token, an e-mail): keep that too.
						reason += "; added " + strings.Join(added, ", ")
						c = m
						cur[ref.String()] = c
						out[ref.String()] = c
					}
					break
				}
				if !sameLogin(old, c) {
					prev := ref
					ref = freeAccount(cur, c, s)
					reason = fmt.Sprintf("another login than %s; stored as %s", prev, ref)
					continue
				}
				switch {
				case overwrite || newer(c, old, timed):
					action = ActReplace
					reason = "newer than the stored credential"
					if overwrite {
						reason = "--overwrite"
					}
					if o := origin[ref.String()]; o != nil {
						o.supersede(ref)
					}
				case c.Expiry.Equal(old.Expiry):
					// Neither is known to be newer: never replace what is
					// stored (its source may be gone), never drop this one.
					action, reason = ActConflict, "another token of the same login is stored, and neither is known to be newer (same expiry); the stored one is kept"
					if c.RefreshToken != "" && c.RefreshToken == old.RefreshToken {
						s.grantHeld[i] = true
						reason = "the stored credential has the same refresh token and expiry, and another access token; the stored one is kept"
					}
				default:
					action, reason = ActSuperseded, "the stored credential is newer"
				}
				break
			}
			c.Account = ref.Account
			s.refs[i], s.actions[i], s.reasons[i] = ref, action, reason
			if action == ActImport || action == ActReplace {
				cur[ref.String()] = c
				out[ref.String()] = c
				origin[ref.String()] = s
				s.creds[i] = c
			}
		}
	}
	return out
}

// supersede marks this source's credential for ref as replaced by a newer
// one from a later source.
func (s *source) supersede(ref backends.Ref) {
	for i := range s.refs {
		if s.refs[i] == ref && (s.actions[i] == ActImport || s.actions[i] == ActReplace) {
			s.actions[i], s.reasons[i] = ActSuperseded, "a newer credential of the same login was found in another file"
		}
	}
}

// enrich returns old with the fields it lacks taken from c, and the names
// of the fields added.
func enrich(old, c backends.Credential) (backends.Credential, []string) {
	m := old.Clone()
	var added []string
	if m.IDToken == "" && c.IDToken != "" {
		m.IDToken = c.IDToken
		added = append(added, "id_token")
	}
	if m.AccountID == "" && c.AccountID != "" {
		m.AccountID = c.AccountID
		added = append(added, "account_id")
	}
	if len(m.Scopes) == 0 && len(c.Scopes) > 0 {
		m.Scopes = c.Scopes
		added = append(added, "scopes")
	}
	if m.Expiry.IsZero() && !c.Expiry.IsZero() {
		m.Expiry = c.Expiry
		added = append(added, "expiry")
	}
	keys := make([]string, 0, len(c.Extra))
	for k := range c.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := m.Extra[k]; !ok {
			if m.Extra == nil {
				m.Extra = map[string]string{}
			}
			m.Extra[k] = c.Extra[k]
			added = append(added, k)
		}
	}
	return m, added
}

// holds reports whether stored holds every secret of c.
func holds(stored, c backends.Credential) bool {
	have := map[string]bool{}
	for _, s := range stored.Secrets() {
		have[s] = true
	}
	for _, s := range c.Secrets() {
		if !have[s] {
			return false
		}
	}
	return true
}

// sameSecret reports whether b holds the secrets a holds.
func sameSecret(a, b backends.Credential) bool {
	return a.Type == b.Type && a.AccessToken == b.AccessToken && a.RefreshToken == b.RefreshToken
}

// sameLogin reports whether a and b are the same login: the same kind of
// credential, and no known account id or e-mail that differs.
func sameLogin(a, b backends.Credential) bool {
	if a.Type != b.Type {
		return false
	}
	if a.AccountID != "" && b.AccountID != "" && a.AccountID != b.AccountID {
		return false
	}
	ea, eb := a.Extra[backends.ExtraEmail], b.Extra[backends.ExtraEmail]
	return ea == "" || eb == "" || strings.EqualFold(ea, eb)
}

// newer reports whether c is newer than old: a later expiry, or the same
// expiry and a later update time, when the file gave c's (timed). An
// update time migrate made up (the time of the run) orders nothing: two
// files without one and with the same expiry are a tie, whichever run
// stored the first.
func newer(c, old backends.Credential, timed bool) bool {
	if !c.Expiry.Equal(old.Expiry) {
		return c.Expiry.After(old.Expiry)
	}
	return timed && c.UpdatedAt.After(old.UpdatedAt)
}

// freeAccount names another account for a different login: from the
// e-mail, else the credential kind and tool, made unique.
func freeAccount(cur map[string]backends.Credential, c backends.Credential, s *source) backends.Ref {
	base := ""
	switch {
	case c.Type == backends.TypeAPIKey:
		base = s.tool + "-api-key"
	case c.Extra[backends.ExtraEmail] != "":
		base = accountName(c.Extra[backends.ExtraEmail])
	default:
		base = s.tool
	}
	if c.Account != backends.DefaultAccount && !strings.HasPrefix(base, c.Account) {
		base = c.Account + "-" + base
	}
	base = accountName(base)
	ref := backends.Ref{Provider: c.Provider, Account: base}
	for n := 2; ; n++ {
		old, ok := cur[ref.String()]
		if !ok || sameSecret(old, c) {
			return ref
		}
		// Keep the name within 64 characters with its suffix.
		suffix := fmt.Sprintf("-%d", n)
		b := base
		if len(b)+len(suffix) > 64 {
			b = strings.TrimRight(b[:64-len(suffix)], "-_.")
		}
		ref.Account = b + suffix
	}
}

// rows returns the report rows of the credentials and skips of s.
func (s *source) rows() []Row {
	var rows []Row
	if s.err != nil {
		return []Row{{Tool: s.tool, File: s.path, Action: ActError, Reason: s.err.Error()}}
	}
	for i := range s.creds {
		reason := s.reasons[i]
		if s.exposed {
			reason = join(reason, "warning: the file was readable by other users, so this token may be exposed: revoke it")
		}
		rows = append(rows, Row{Tool: s.tool, File: s.path, Ref: s.refs[i].String(), Action: s.actions[i], Reason: reason})
	}
	for _, sk := range s.skips {
		rows = append(rows, Row{Tool: s.tool, File: s.path, Ref: sk.Entry, Action: ActSkip, Reason: sk.Reason})
	}
	return rows
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// disposal decides what happens to the source file, and whether a kept
// file counts as left behind (its contents could not all be imported).
func (s *source) disposal(opts Options, stored map[string]backends.Credential, intact func(backends.Ref) bool) (action, reason string, left bool) {
	switch {
	case s.err != nil:
		return ActKeep, "left untouched: " + s.err.Error(), true
	case len(s.skips) > 0:
		return ActKeep, fmt.Sprintf("left in place: %d entr%s could not be imported", len(s.skips), map[bool]string{true: "y", false: "ies"}[len(s.skips) == 1]), true
	}
	for i := range s.creds {
		if s.actions[i] == ActConflict && !s.grantHeld[i] {
			return ActKeep, "left in place: it holds another token of a login already stored, and neither is known to be newer; remove this file, or replace the stored one with --overwrite", true
		}
	}
	for i := range s.creds {
		if s.actions[i] == ActConflict {
			return ActKeep, "left in place: the store holds its login and refresh token, but not its access token", false
		}
	}
	for i := range s.creds {
		if s.actions[i] == ActSuperseded {
			return ActKeep, "left in place: it holds a login older than the one stored", false
		}
	}
	if opts.DryRun {
		return ActRemove, "would be removed once imported (dry run: nothing changed)", false
	}
	for i := range s.creds {
		if !intact(s.refs[i]) {
			return ActKeep, fmt.Sprintf("left in place: %s did not read back from the store as written", s.refs[i]), true
		}
	}
	if opts.Keep {
		return ActKeep, "--keep", false
	}
	for i, c := range s.creds {
		got, ok := stored[s.refs[i].String()]
		if !ok || !holds(got, c) {
			return ActKeep, "left in place: not every secret in it is in the store", true
		}
	}
	return ActRemove, "every secret in it is in the store", false
}

// addConnect notes that s's tool needs connect, unless connect does not
// know it or it is connected already.
func (r *Report) addConnect(s *source, opts Options) {
	if !CanConnect(s.tool) {
		return
	}
	for _, h := range r.Connect {
		if h.Tool == s.tool {
			return
		}
	}
	if IsConnected(s.tool, ConnectOptions{Home: opts.Home, Getenv: opts.Getenv}) {
		return
	}
	account := backends.DefaultAccount
	for _, ref := range s.refs {
		if ref.Account != backends.DefaultAccount {
			account = ref.Account
		}
	}
	r.Connect = append(r.Connect, ConnectHint{Tool: s.tool, Account: account})
}

// Sorted returns the rows sorted by file, then credential.
func (r *Report) Sorted() []Row {
	rows := append([]Row(nil), r.Rows...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].File < rows[j].File })
	return rows
}
