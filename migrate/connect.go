package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/rogpeppe/go-internal/diff"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/internal/fsutil"
)

// How a connected tool gets its credentials.
const (
	// ModeHelper: the tool runs `credmgr token` itself (a helper command
	// in its own configuration); nothing has to be running.
	ModeHelper = "helper"
	// ModeProxy: the tool talks to `credmgr proxy` on loopback with a
	// revocable proxy key; credmgr adds the real credential.
	ModeProxy = "proxy"
)

// BackupSuffix is added to a tool's file name for the copy connect keeps
// of it as it was before credmgr first changed it.
const BackupSuffix = ".credmgr-backup"

// ConnectOptions configures Connect, Undo and Statuses.
type ConnectOptions struct {
	// Home is the home directory the tools' files are under.
	Home string
	// Getenv reads the tools' variables (PI_CODING_AGENT_DIR, CODEX_HOME,
	// CLAUDE_CONFIG_DIR); nil means os.Getenv, as in backends.Options and
	// ui.Terminal. NoEnv reads none (another user's home).
	Getenv func(string) string
	// LookPath finds a tool's executable (nil: exec.LookPath).
	LookPath func(string) (string, error)
	// Account is the credmgr account the tool uses ("" is "default").
	Account string
	// Providers limits the providers connected (pi can use several).
	Providers []string
	// Proxy points the tool at credmgr proxy even where a helper hook
	// would work.
	Proxy bool
	// DryRun computes and shows the changes and writes nothing.
	DryRun bool
	// Creds are the stored credentials. Connect reads their provider,
	// account, type and extras to choose what to write, and refuses to
	// write any of their secrets.
	Creds []backends.Credential
	// Command is how the tools run credmgr: "credmgr" when it is on their
	// PATH, else an absolute path.
	Command string
	// Upstream returns the API base URL configured for provider ("" for
	// the default).
	Upstream func(provider string) string
	// ProxyURL is credmgr proxy's base URL, e.g. http://127.0.0.1:7457
	// ("" when it has none that tools can use).
	ProxyURL string
	// ProxyKeys creates and revokes the proxy keys connect writes; nil
	// when no proxy is available.
	ProxyKeys ProxyKeys
	// BeforeWrite, if set, gets the result (with each file's diff) after
	// everything is computed and before anything is written.
	BeforeWrite func(*ConnectResult)
}

// ProxyKeys manages the proxy keys connect writes into tools' files.
type ProxyKeys interface {
	// Holds reports whether the stored key called name is secret (and
	// has not expired).
	Holds(ctx context.Context, name, secret string) (bool, error)
	// Add creates a key called name (replacing one of that name) for
	// providers and account, and returns its secret.
	Add(ctx context.Context, name string, providers []string, account string) (string, error)
	// Revoke removes the key called name; a missing key is not an error.
	Revoke(ctx context.Context, name string) error
}

// Errors of Connect.
var (
	// ErrUnknownTool: the tool is not one connect knows.
	ErrUnknownTool = errors.New("unknown tool")
	// ErrNoCredential: credmgr holds nothing the tool can use.
	ErrNoCredential = errors.New("no credential the tool can use")
	// ErrNoProxy: the connection needs credmgr proxy, which this build
	// does not have.
	ErrNoProxy = errors.New("the connection needs credmgr proxy, which is not available")
	// ErrProxyAddress: the connection needs credmgr proxy on a TCP
	// address (ConnectOptions.ProxyURL), and there is none.
	ErrProxyAddress = errors.New("the connection needs credmgr proxy on a 127.0.0.1 address, and proxy_listen is not one")
	// ErrUnparsable: a tool's file does not parse; it is left untouched.
	ErrUnparsable = errUnparsable
)

// File actions in a ConnectResult.
const (
	FileCreate    = "create"    // the file is new
	FileUpdate    = "update"    // credmgr's entries were written into it
	FileUnchanged = "unchanged" // it already held them
	FileRestore   = "restore"   // undo: the backup was put back, byte for byte
	FileRemove    = "remove"    // undo: connect had created it; removed
	FileUndo      = "undo"      // undo: credmgr's entries were taken out (the file was edited since)
)

// ConnectResult is what Connect or Undo did (or, with DryRun, would do).
type ConnectResult struct {
	Tool string `json:"tool"`
	Name string `json:"name"`
	// Mode is ModeHelper or ModeProxy ("" after an undo).
	Mode  string       `json:"mode,omitempty"`
	Files []FileResult `json:"files"`
	// ProxyKey names the proxy key the tool uses (or that undo revoked).
	ProxyKey string `json:"proxy_key,omitempty"`
	// ProxyURL is credmgr proxy's address, when the tool uses it.
	ProxyURL string `json:"proxy_url,omitempty"`
	// Notes are facts the user needs: what must keep running, what
	// overrides the new settings.
	Notes  []string `json:"notes,omitempty"`
	DryRun bool     `json:"dry_run"`
}

// FileResult is one file's change.
type FileResult struct {
	Path   string `json:"path"`
	Action string `json:"action"`
	// Diff is the change as a unified diff (proxy keys masked).
	Diff string `json:"diff,omitempty"`
	// Backup is the copy of the file as it was before credmgr changed it.
	Backup string `json:"backup,omitempty"`
}

// Changed reports whether any file changes.
func (r *ConnectResult) Changed() bool {
	for _, f := range r.Files {
		if f.Action != FileUnchanged {
			return true
		}
	}
	return false
}

// ToolStatus says whether a tool is installed and connected.
type ToolStatus struct {
	Tool string `json:"tool"`
	Name string `json:"name"`
	// Installed is the tool's executable found on PATH ("" if none).
	Installed string `json:"installed,omitempty"`
	// ConfigDir is the tool's configuration directory, if it exists.
	ConfigDir string `json:"config_dir,omitempty"`
	// Mode is how it is connected ("" if it is not).
	Mode string `json:"mode,omitempty"`
	// Providers are the providers it is connected for.
	Providers []string `json:"providers,omitempty"`
	// Err is why its files could not be read.
	Err string `json:"error,omitempty"`
}

// toolFile is one of a tool's configuration files.
type toolFile struct {
	path   string
	format string
	// perm and dirPerm are the modes the tool itself gives a new file
	// and directory; a file that holds a proxy key is made 0600.
	perm, dirPerm fs.FileMode
	// readOnly files are only read (to warn about what overrides
	// credmgr's entries); a missing or unreadable one reads as empty.
	readOnly bool
}

// entry is one value credmgr writes.
type entry struct {
	file  int
	path  []string
	value any
	// provider is the provider an entry serves, where a tool has
	// entries for several (pi); --provider leaves the others alone.
	provider string
}

// proxyKeyValue stands for the proxy key in an entry's value, after
// prefix (for a value that names a header, say).
type proxyKeyValue struct{ prefix string }

// keyIn returns the proxy key in v, a value written for pk.
func (pk proxyKeyValue) keyIn(v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	s, ok = strings.CutPrefix(s, pk.prefix)
	return s, ok && isProxyKey(s)
}

// toolPlan is what a connector wants written.
type toolPlan struct {
	mode      string
	entries   []entry
	providers []string // the proxy key's providers, or the providers helpers serve
	notes     []string
}

type connector struct {
	tool, name, binary string
	// dir is the tool's configuration directory.
	dir func(o *ConnectOptions) string
	// files are the files connect edits, under dir.
	files func(o *ConnectOptions) []toolFile
	// plan decides what to write, given the files as they are.
	plan func(o *ConnectOptions, docs []doc) (*toolPlan, error)
	// owned returns the entries credmgr wrote that the files hold now,
	// in the order connect writes them, with the mode they make and the
	// providers they serve.
	owned func(o *ConnectOptions, docs []doc) ([]entry, string, []string)
}

// ConnectTools lists the tools connect knows, in display order.
func ConnectTools() []string {
	var out []string
	for _, c := range connectors() {
		out = append(out, c.tool)
	}
	return out
}

// CanConnect reports whether connect knows tool.
func CanConnect(tool string) bool {
	_, err := lookupConnector(tool)
	return err == nil
}

func lookupConnector(tool string) (*connector, error) {
	for _, c := range connectors() {
		if c.tool == tool {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownTool, tool, strings.Join(ConnectTools(), ", "))
}

func (o *ConnectOptions) getenv(k string) string { return orOSGetenv(o.Getenv)(k) }

// NoEnv is a Getenv that reads no environment: for a Home that is not the
// running user's, whose tool variables say nothing about it.
func NoEnv(string) string { return "" }

// orOSGetenv returns getenv, or os.Getenv when it is nil.
func orOSGetenv(getenv func(string) string) func(string) string {
	if getenv == nil {
		return os.Getenv
	}
	return getenv
}

func (o *ConnectOptions) account() string {
	if o.Account == "" {
		return backends.DefaultAccount
	}
	return o.Account
}

// cred returns the stored credential for provider in the chosen account.
func (o *ConnectOptions) cred(provider string) (backends.Credential, bool) {
	for _, c := range o.Creds {
		if c.Provider == provider && c.Account == o.account() {
			return c, true
		}
	}
	return backends.Credential{}, false
}

// wants reports whether provider is among --provider (or no filter).
func (o *ConnectOptions) wants(provider string) bool {
	if len(o.Providers) == 0 {
		return true
	}
	for _, p := range o.Providers {
		if p == provider {
			return true
		}
	}
	return false
}

// tokenArgs are the arguments of `credmgr token` for provider.
func (o *ConnectOptions) tokenArgs(provider string) []string {
	args := []string{"token", provider}
	if o.account() != backends.DefaultAccount {
		args = append(args, "--account", o.account())
	}
	return args
}

// shellCommand is `credmgr token PROVIDER` for tools that run helpers
// through a shell.
func (o *ConnectOptions) shellCommand(provider string) string {
	parts := append([]string{o.command()}, o.tokenArgs(provider)...)
	for i, p := range parts {
		parts[i] = shellQuote(p)
	}
	return strings.Join(parts, " ")
}

func (o *ConnectOptions) command() string {
	if o.Command == "" {
		return "credmgr"
	}
	return o.Command
}

func shellQuote(s string) string {
	safe := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./=:@+,", c)) {
			safe = false
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// upstream returns the API base for a direct connection to provider.
func (o *ConnectOptions) upstream(provider string, c backends.Credential) string {
	if o.Upstream != nil {
		if u := o.Upstream(provider); u != "" {
			return strings.TrimRight(u, "/")
		}
	}
	return DefaultUpstream(c)
}

// configuredUpstream is the upstream config.toml sets for provider, or "".
func (o *ConnectOptions) configuredUpstream(provider string) string {
	if o.Upstream == nil {
		return ""
	}
	return strings.TrimRight(o.Upstream(provider), "/")
}

// proxyBase is credmgr proxy's base URL for provider.
func (o *ConnectOptions) proxyBase(provider string) string {
	return strings.TrimRight(o.ProxyURL, "/") + "/" + provider
}

// DefaultUpstream is the API base URL a tool uses for c's provider and
// kind of credential when config.toml sets no upstream: the base credmgr
// proxy forwards to (flows.Upstream with providers.API), to which a tool appends its API path
// (/v1/messages, /responses, …). It is "" for a provider without one.
func DefaultUpstream(c backends.Credential) string {
	u, err := flows.Upstream(c, providers.API(c.Provider), nil)
	if err != nil {
		return ""
	}
	return u
}

// isProxyKey recognises a credmgr proxy key.
func isProxyKey(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, "cmp_") && len(s) > 8
}

// isHelper recognises a helper command connect wrote.
func isHelper(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, "credmgr") && strings.Contains(s, " token ")
}

// proxyKeyName is the name of the proxy key connect makes for tool.
func proxyKeyName(tool string) string { return "connect-" + tool }

// --- files --------------------------------------------------------------------

// toolState is one of a tool's files as found.
type toolState struct {
	toolFile
	real    string // path after following a symlink
	exists  bool
	perm    fs.FileMode
	doc     doc
	backup  doc // nil when there is no backup, or it does not parse
	bakPath string
	bakData []byte // nil when there is no backup
}

func loadFile(f toolFile) (*toolState, error) {
	st := &toolState{toolFile: f, real: f.path}
	if fi, err := os.Lstat(f.path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		real, err := filepath.EvalSymlinks(f.path)
		if err != nil {
			return nil, fmt.Errorf("%s is a symlink to a file that cannot be reached: %w", f.path, unwrapPath(err))
		}
		st.real = real
	}
	data, err := os.ReadFile(st.real)
	if err != nil && f.readOnly {
		data, err = nil, fs.ErrNotExist
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", f.path, unwrapPath(err))
	default:
		fi, err := os.Stat(st.real)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", f.path)
		}
		st.exists, st.perm = true, fi.Mode().Perm()
	}
	if st.doc, err = parseDoc(f.format, data); err != nil {
		if f.readOnly {
			st.doc, _ = parseDoc(f.format, nil)
			return st, nil
		}
		return nil, fmt.Errorf("%s %w; credmgr left it untouched", f.path, err)
	}
	st.bakPath = st.real + BackupSuffix
	if b, err := os.ReadFile(st.bakPath); err == nil {
		st.bakData = b
		// A backup that no longer parses (edited by hand) is kept, but
		// undo then only takes credmgr's entries out.
		st.backup, _ = parseDoc(f.format, b)
	}
	return st, nil
}

func loadFiles(files []toolFile) ([]*toolState, []doc, error) {
	states := make([]*toolState, len(files))
	docs := make([]doc, len(files))
	for i, f := range files {
		st, err := loadFile(f)
		if err != nil {
			return nil, nil, err
		}
		states[i], docs[i] = st, st.doc
	}
	return states, docs, nil
}

// plain turns a value connect writes into what decoding it gives.
func plain(v any) any {
	switch v := v.(type) {
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = plain(x)
		}
		return out
	}
	return v
}

// edit applies f to the doc and parses the result as the next doc.
func edit(st *toolState, d doc, f func(doc) ([]byte, error)) (doc, error) {
	out, err := f(d)
	if err != nil {
		return nil, fmt.Errorf("editing %s: %w", st.path, err)
	}
	return parseDoc(st.format, out)
}

// takeOut removes path from d, putting back the backup's value where the
// backup has one, and then removes the objects along path that are left
// empty and that the backup does not have.
func takeOut(st *toolState, d doc, path []string) (doc, error) {
	var err error
	if st.backup != nil {
		if v, ok := st.backup.get(path); ok {
			if cur, ok := d.get(path); ok && reflect.DeepEqual(cur, v) {
				return d, nil
			}
			return edit(st, d, func(d doc) ([]byte, error) { return d.set(v, path) })
		}
	}
	if _, ok := d.get(path); ok {
		if d, err = edit(st, d, func(d doc) ([]byte, error) { return d.del(path) }); err != nil {
			return nil, err
		}
	}
	for n := len(path) - 1; n > 0; n-- {
		p := path[:n]
		v, ok := d.get(p)
		if m, isMap := v.(map[string]any); !ok || !isMap || len(m) > 0 {
			break
		}
		if st.backup != nil {
			if _, had := st.backup.get(p); had {
				break
			}
		}
		if d, err = edit(st, d, func(d doc) ([]byte, error) { return d.del(p) }); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func samePath(a, b []string) bool { return reflect.DeepEqual(a, b) }

// --- connect ------------------------------------------------------------------

// Connect changes tool's configuration so that it takes its credentials
// from credmgr. Every file is parsed before any is written, a file that
// does not parse is left untouched (ErrUnparsable), and a file that
// already holds credmgr's entries is not written again.
func Connect(ctx context.Context, tool string, o ConnectOptions) (*ConnectResult, error) {
	c, err := lookupConnector(tool)
	if err != nil {
		return nil, err
	}
	states, docs, err := loadFiles(c.files(&o))
	if err != nil {
		return nil, err
	}
	plan, err := c.plan(&o, docs)
	if err != nil {
		return nil, err
	}
	res := &ConnectResult{Tool: c.tool, Name: c.name, Mode: plan.mode, Notes: plan.notes, DryRun: o.DryRun}
	if plan.mode == ModeProxy {
		res.ProxyURL = strings.TrimSuffix(o.proxyBase(""), "/")
	}
	needsKey := plan.needsKey()
	key := ""
	if needsKey {
		if o.ProxyKeys == nil {
			return nil, fmt.Errorf("%s: %w", c.name, ErrNoProxy)
		}
		if o.ProxyURL == "" {
			return nil, fmt.Errorf("%s: %w", c.name, ErrProxyAddress)
		}
		res.ProxyKey = proxyKeyName(c.tool)
		if key, err = plan.heldKey(ctx, &o, docs, res.ProxyKey); err != nil {
			return nil, err
		}
	}
	// The files are edited in memory with a placeholder until every one
	// of them has been: only then is a new key created, and the edit
	// done again with it.
	const placeholder = "cmp_" + "0000000000000000000000000000000000000000000"
	if key == "" {
		key = placeholder
	}
	owned, _, _ := c.owned(&o, docs)
	outs, err := plan.render(&o, states, owned, key)
	if err != nil {
		return nil, err
	}
	if needsKey && key == placeholder && !o.DryRun {
		if key, err = o.ProxyKeys.Add(ctx, res.ProxyKey, plan.providers, o.account()); err != nil {
			return nil, fmt.Errorf("creating proxy key %s: %w", res.ProxyKey, err)
		}
		if outs, err = plan.render(&o, states, owned, key); err != nil {
			return nil, err
		}
	}
	if res.Files, err = describeChanges(states, outs, o.Creds, key); err != nil {
		return nil, err
	}
	if o.BeforeWrite != nil {
		o.BeforeWrite(res)
	}
	if o.DryRun {
		return res, nil
	}
	return res, writeChanges(res.Files, states, owned, plan, outs)
}

// needsKey reports whether the plan writes a proxy key.
func (p *toolPlan) needsKey() bool {
	for _, e := range p.entries {
		if _, ok := e.value.(proxyKeyValue); ok {
			return true
		}
	}
	return false
}

// heldKey returns the proxy key the files hold where the plan writes one,
// if it is the stored key called name; "" otherwise.
func (p *toolPlan) heldKey(ctx context.Context, o *ConnectOptions, docs []doc, name string) (string, error) {
	for _, e := range p.entries {
		pk, ok := e.value.(proxyKeyValue)
		if !ok {
			continue
		}
		v, _ := docs[e.file].get(e.path)
		k, ok := pk.keyIn(v)
		if !ok {
			return "", nil
		}
		holds, err := o.ProxyKeys.Holds(ctx, name, k)
		if err != nil {
			return "", fmt.Errorf("reading proxy key %s: %w", name, err)
		}
		if holds {
			return k, nil
		}
		return "", nil
	}
	return "", nil
}

// render returns the new content of each file: what an earlier connect
// wrote that this plan does not (another mode or provider) taken out, and
// the plan's entries set, with key where a proxy key goes.
func (p *toolPlan) render(o *ConnectOptions, states []*toolState, owned []entry, key string) ([][]byte, error) {
	out := make([][]byte, len(states))
	for i, st := range states {
		d := st.doc
		var err error
		for j := len(owned) - 1; j >= 0; j-- {
			e := owned[j]
			if e.file != i || p.has(e) || e.provider != "" && !o.wants(e.provider) {
				continue
			}
			if d, err = takeOut(st, d, e.path); err != nil {
				return nil, err
			}
		}
		for _, e := range p.entries {
			if e.file != i {
				continue
			}
			v := e.value
			if pk, ok := v.(proxyKeyValue); ok {
				v = pk.prefix + key
			}
			if cur, ok := d.get(e.path); ok && reflect.DeepEqual(cur, plain(v)) {
				continue
			}
			if d, err = edit(st, d, func(d doc) ([]byte, error) { return d.set(v, e.path) }); err != nil {
				return nil, err
			}
		}
		out[i] = d.bytes()
	}
	return out, nil
}

// describeChanges returns what writing outs would do to each file that is
// not read-only, with a diff in which key is masked, after checking that
// no output holds a stored secret.
func describeChanges(states []*toolState, outs [][]byte, creds []backends.Credential, key string) ([]FileResult, error) {
	var files []FileResult
	for i, st := range states {
		if st.readOnly {
			continue
		}
		if err := noSecrets(outs[i], creds); err != nil {
			return nil, fmt.Errorf("%s: %w; nothing was written", st.path, err)
		}
		fr := FileResult{Path: st.path, Action: FileUnchanged}
		old := st.doc.bytes()
		if !bytes.Equal(outs[i], old) {
			fr.Action = FileUpdate
			if !st.exists {
				fr.Action = FileCreate
			}
			fr.Diff = maskKeys(string(diff.Diff(st.path+" (before)", old, st.path+" (after)", outs[i])), key)
		}
		files = append(files, fr)
	}
	return files, nil
}

// writeChanges writes the files that change, each after a backup of it as
// it was before credmgr first touched it (a file credmgr has not connected
// yet gets a new backup; a connected one keeps the backup it has), and
// notes the backups in files.
func writeChanges(files []FileResult, states []*toolState, owned []entry, plan *toolPlan, outs [][]byte) error {
	for n := range files {
		fr := &files[n]
		i := indexOf(states, fr.Path)
		st := states[i]
		if fr.Action == FileUnchanged {
			if st.backup != nil {
				fr.Backup = st.bakPath
			}
			continue
		}
		connected := false
		for _, e := range owned {
			connected = connected || e.file == i
		}
		if st.exists && !connected {
			if err := fsutil.WriteFileAtomicMode(st.bakPath, st.doc.bytes(), st.perm); err != nil {
				return fmt.Errorf("saving a backup of %s: %w; the file was not changed", st.path, err)
			}
			fr.Backup = st.bakPath
		} else if st.backup != nil {
			fr.Backup = st.bakPath
		}
		perm := st.perm
		if !st.exists {
			perm = st.toolFile.perm
			if plan.writesKey(i) {
				perm = 0o600
			}
			if err := os.MkdirAll(filepath.Dir(st.real), st.dirPerm); err != nil {
				return fmt.Errorf("creating %s: %w", filepath.Dir(st.real), err)
			}
		}
		if err := fsutil.WriteFileAtomicMode(st.real, outs[i], perm); err != nil {
			return err
		}
	}
	return nil
}

func indexOf(states []*toolState, path string) int {
	for i, st := range states {
		if st.path == path {
			return i
		}
	}
	return -1
}

// has reports whether the plan writes e's path in e's file.
func (p *toolPlan) has(e entry) bool {
	for _, x := range p.entries {
		if x.file == e.file && samePath(x.path, e.path) {
			return true
		}
	}
	return false
}

// writesKey reports whether the plan writes a proxy key into file i.
func (p *toolPlan) writesKey(i int) bool {
	for _, x := range p.entries {
		if _, ok := x.value.(proxyKeyValue); ok && x.file == i {
			return true
		}
	}
	return false
}

// noSecrets refuses data that holds any stored secret.
func noSecrets(data []byte, creds []backends.Credential) error {
	for _, c := range creds {
		for _, s := range c.Secrets() {
			if len(s) >= 8 && bytes.Contains(data, []byte(s)) {
				return fmt.Errorf("the new content would hold the secret of %s", c.Ref())
			}
		}
	}
	return nil
}

// maskKeys hides proxy keys in a diff shown to the user.
func maskKeys(d, key string) string {
	if key == "" {
		return d
	}
	return strings.ReplaceAll(d, key, "cmp_…(proxy key)")
}

// --- undo -----------------------------------------------------------------------

// Undo reverses Connect: a file that has not changed since connect wrote
// it gets its backup back byte for byte (or is removed, if connect created
// it); a file edited since loses only credmgr's entries, which take the
// backup's values again. The proxy key connect made is revoked.
func Undo(ctx context.Context, tool string, o ConnectOptions) (*ConnectResult, error) {
	c, err := lookupConnector(tool)
	if err != nil {
		return nil, err
	}
	states, docs, err := loadFiles(c.files(&o))
	if err != nil {
		return nil, err
	}
	owned, mode, _ := c.owned(&o, docs)
	res := &ConnectResult{Tool: c.tool, Name: c.name, DryRun: o.DryRun}
	changes := make([]undoChange, len(states))
	for i, st := range states {
		if st.readOnly {
			continue
		}
		var mine []entry
		for _, e := range owned {
			if e.file == i {
				mine = append(mine, e)
			}
		}
		fr := FileResult{Path: st.path, Action: FileUnchanged}
		if len(mine) == 0 {
			res.Files = append(res.Files, fr)
			continue
		}
		ch, err := undoFile(st, mine)
		if err != nil {
			return nil, err
		}
		changes[i] = ch
		fr.Action = ch.action
		fr.Diff = maskProxyKeys(string(diff.Diff(st.path+" (before)", st.doc.bytes(), st.path+" (after)", ch.data)))
		if st.bakData != nil {
			fr.Backup = st.bakPath
		}
		res.Files = append(res.Files, fr)
	}
	if mode == ModeProxy && o.ProxyKeys != nil {
		res.ProxyKey = proxyKeyName(c.tool)
	}
	if o.BeforeWrite != nil {
		o.BeforeWrite(res)
	}
	if o.DryRun {
		return res, nil
	}
	for n := range res.Files {
		i := indexOf(states, res.Files[n].Path)
		restored, err := changes[i].apply(states[i])
		if err != nil {
			return res, err
		}
		if restored {
			res.Files[n].Backup = ""
		}
	}
	if res.ProxyKey != "" {
		if err := o.ProxyKeys.Revoke(ctx, res.ProxyKey); err != nil {
			return res, fmt.Errorf("revoking proxy key %s: %w", res.ProxyKey, err)
		}
	}
	return res, nil
}

// undoChange is what undo does to one file: restore its backup, remove
// it (connect created it), or write data (connect's entries taken out).
type undoChange struct {
	action string // FileRestore, FileRemove, FileUndo or "" (nothing)
	data   []byte
}

// undoFile decides what undoing the entries mine does to st. If what
// connect would have written over the backup (or over nothing) is the file
// as it is, the backup is the file as it was, and is restored (or the file
// removed); otherwise only credmgr's entries are taken out.
func undoFile(st *toolState, mine []entry) (undoChange, error) {
	d, err := parseDoc(st.format, st.bakData)
	replayed := err == nil && d != nil
	for _, e := range mine {
		if !replayed {
			break
		}
		v, _ := st.doc.get(e.path)
		nd, err := edit(st, d, func(d doc) ([]byte, error) { return d.set(v, e.path) })
		if err != nil {
			replayed = false
			break
		}
		d = nd
	}
	if replayed && bytes.Equal(d.bytes(), st.doc.bytes()) {
		if st.bakData != nil {
			return undoChange{FileRestore, st.bakData}, nil
		}
		return undoChange{FileRemove, nil}, nil
	}
	d = st.doc
	for j := len(mine) - 1; j >= 0; j-- {
		if d, err = takeOut(st, d, mine[j].path); err != nil {
			return undoChange{}, err
		}
	}
	return undoChange{FileUndo, d.bytes()}, nil
}

// apply carries out ch on st's file and reports whether the backup was
// restored (and so is gone).
func (ch undoChange) apply(st *toolState) (restored bool, err error) {
	switch ch.action {
	case FileRestore:
		// The backup has the original mode; renaming it over the file
		// restores content and mode at once.
		if err := os.Rename(st.bakPath, st.real); err != nil {
			return false, fmt.Errorf("restoring %s: %w", st.path, err)
		}
		fsutil.SyncDir(filepath.Dir(st.real))
		return true, nil
	case FileRemove:
		if err := fsutil.RemoveDurable(st.real); err != nil {
			return false, fmt.Errorf("removing %s: %w", st.path, err)
		}
	case FileUndo:
		if err := fsutil.WriteFileAtomicMode(st.real, ch.data, st.perm); err != nil {
			return false, err
		}
	}
	return false, nil
}

// maskProxyKeys hides every proxy key in text.
func maskProxyKeys(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "cmp_")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		j := i + 4
		for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9' || s[j] == '-' || s[j] == '_') {
			j++
		}
		b.WriteString("cmp_…(proxy key)")
		s = s[j:]
	}
}

// --- status ---------------------------------------------------------------------

// Statuses reports, for every tool connect knows, whether it is installed
// and whether (and how) it is connected. A tool whose files cannot be
// read has Err set.
func Statuses(o ConnectOptions) []ToolStatus {
	var out []ToolStatus
	look := o.LookPath
	if look == nil {
		look = exec.LookPath
	}
	for _, c := range connectors() {
		s := ToolStatus{Tool: c.tool, Name: c.name}
		if p, err := look(c.binary); err == nil {
			s.Installed = p
		}
		if dir := c.dir(&o); dir != "" {
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				s.ConfigDir = dir
			}
		}
		if _, docs, err := loadFiles(c.files(&o)); err != nil {
			s.Err = err.Error()
		} else if owned, mode, providers := c.owned(&o, docs); len(owned) > 0 {
			s.Mode, s.Providers = mode, providers
		}
		out = append(out, s)
	}
	return out
}

// IsConnected reports whether tool's files hold credmgr's entries.
func IsConnected(tool string, o ConnectOptions) bool {
	c, err := lookupConnector(tool)
	if err != nil {
		return false
	}
	_, docs, err := loadFiles(c.files(&o))
	if err != nil {
		return false
	}
	owned, _, _ := c.owned(&o, docs)
	return len(owned) > 0
}

func sortedUnique(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
