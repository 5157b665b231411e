package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/internal/cred"
	"github.com/credmgr/credmgr/internal/strictjson"
	"github.com/credmgr/credmgr/internal/tty"
)

func (a *app) importCmd() *cobra.Command {
	var opts importOptions
	cmd := &cobra.Command{
		Use:   "import PROVIDER",
		Short: "Store a credential read from stdin",
		Long: `Import reads one credential from stdin and stores it, replacing any credential
of the same provider and account.

The input is a JSON object with the fields of a stored credential:
  type           "oauth" (default when tokens are given) or "api_key"
  access_token   the access token (or, for api_key, the key)
  refresh_token, id_token, token_type, scopes (list), account_id,
  expiry         RFC 3339, e.g. "2030-01-01T00:00:00Z"
  extra          an object of string values (resource_url, project_id, …)
  api_key        the key, for "type": "api_key"
provider and account may be given and must then match the arguments.
The credential is stored exactly as given or not at all: the input must be
UTF-8, with each key once and field names in lowercase as above, and an
expiry of 0001-01-01T00:00:00Z is refused (leave expiry out instead). Errors
never quote the input.

With --api-key, stdin holds a bare API key instead; on a terminal it is
asked for and not echoed.

A stored credential of another type (an OAuth login, when an API key is
imported, or the reverse) is replaced only with --force; use --account to
keep both.`,
		Example: `  echo '{"access_token":"…","refresh_token":"…","expiry":"2030-01-01T00:00:00Z"}' | credmgr import openai
  credmgr import anthropic --api-key < key.txt`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.providerCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Provider = args[0]
			return a.importRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Account, "account", "", "account name (default \"default\")")
	cmd.RegisterFlagCompletionFunc("account", a.accountCompletion)
	cmd.Flags().BoolVar(&opts.APIKey, "api-key", false, "read a bare API key instead of JSON (asked for without echo on a terminal)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "replace a stored credential of another type (an OAuth login by an API key, or the reverse)")
	return cmd
}

// importOptions are what import runs with.
type importOptions struct {
	Provider string // as given: an alias is mapped
	Account  string
	APIKey   bool // --api-key: stdin holds a bare key
	Force    bool // --force: replace a stored credential of another type
}

// importRun reads one credential from a's stdin and stores it.
func (a *app) importRun(ctx context.Context, opts importOptions) error {
	ref, err := refArg(opts.Provider, opts.Account)
	if err != nil {
		return err
	}
	var in []byte
	if opts.APIKey && a.stdinIsTerminal() {
		// Typed or pasted at a terminal: prompt there, and do not
		// echo.
		var key string
		key, err = tty.ReadSecret(ctx, "API key for "+ref.String()+": ", false)
		in = []byte(key)
	} else {
		in, err = io.ReadAll(io.LimitReader(a.stdin, 1<<20+1))
	}
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	if len(in) > 1<<20 {
		return errors.New("input is larger than 1 MiB")
	}
	var c backends.Credential
	if opts.APIKey {
		c, err = parseAPIKey(in)
		if errors.Is(err, errJSONAsAPIKey) {
			return withHint(exitError, err, "nothing was stored; to import a credential given as JSON, run credmgr import "+opts.Provider+" without --api-key")
		}
	} else {
		c, err = parseCredentialJSON(in, ref)
	}
	if err != nil {
		return withHint(exitError, err, "nothing was stored; see credmgr import --help for the format")
	}
	c.Provider, c.Account = ref.Provider, ref.Account
	if c.Source == "" {
		c.Source = "import"
	}
	c.UpdatedAt = time.Now().UTC().Truncate(time.Second)
	if err := c.Validate(); err != nil {
		return withHint(exitError, err, "nothing was stored")
	}
	op, err := a.store(ctx)
	if err != nil {
		return err
	}
	if err := a.putImported(ctx, op, c, opts.Force); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "credmgr: stored %s (%s) in the %s backend\n", ref, c.Type, op.Name)
	return nil
}

// errJSONAsAPIKey is returned by parseAPIKey for input that is JSON.
var errJSONAsAPIKey = errors.New("the input is JSON, not an API key")

func parseAPIKey(in []byte) (backends.Credential, error) {
	s := strings.TrimSpace(string(in))
	if s == "" {
		return backends.Credential{}, errors.New("empty input: expected an API key on stdin")
	}
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		return backends.Credential{}, errJSONAsAPIKey
	}
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return backends.Credential{}, errors.New("the API key is in quotes: give it without them")
	}
	if strings.ContainsAny(s, "\n\r\t ") {
		return backends.Credential{}, errors.New("the API key contains whitespace or several lines: expected one key")
	}
	return backends.Credential{Type: backends.TypeAPIKey, AccessToken: s}, nil
}

// importInput is the accepted JSON: a Credential plus "api_key" as a
// friendlier spelling of access_token for API keys. Expiry shadows the
// credential's to tell an explicit zero time from none.
type importInput struct {
	backends.Credential
	APIKey string     `json:"api_key"`
	Expiry *time.Time `json:"expiry"`
}

// parseCredentialJSON decodes the JSON import reads, refusing whatever
// would be stored differently from how it was given (see strictjson), and
// naming problems, never values.
func parseCredentialJSON(in []byte, ref backends.Ref) (backends.Credential, error) {
	if len(bytes.TrimSpace(in)) == 0 {
		return backends.Credential{}, errors.New("empty input: expected a credential as JSON on stdin")
	}
	if err := strictjson.Check(in, reflect.TypeFor[importInput](), strictjson.RejectUnknown); err != nil {
		return backends.Credential{}, fmt.Errorf("invalid credential JSON: %s", strictjson.Describe(err))
	}
	dec := json.NewDecoder(bufio.NewReader(bytes.NewReader(in)))
	dec.DisallowUnknownFields()
	var v importInput
	if err := dec.Decode(&v); err != nil {
		return backends.Credential{}, fmt.Errorf("invalid credential JSON: %s", strictjson.Describe(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return backends.Credential{}, errors.New("invalid credential JSON: more than one JSON value on stdin")
	}
	c := v.Credential
	if v.Expiry != nil {
		if v.Expiry.IsZero() {
			return c, errors.New("expiry 0001-01-01T00:00:00Z is the zero time, which credmgr reads as \"no expiry\": leave expiry out for a credential that does not expire")
		}
		c.Expiry = *v.Expiry
	}
	if v.APIKey != "" {
		if c.AccessToken != "" {
			return c, errors.New("give the key as api_key or access_token, not both")
		}
		if c.Type == "" {
			c.Type = backends.TypeAPIKey
		}
		if c.Type != backends.TypeAPIKey {
			return c, fmt.Errorf("api_key given for a credential of type %s", cred.QuoteName(string(c.Type)))
		}
		c.AccessToken = v.APIKey
	}
	if c.Type == "" {
		c.Type = backends.TypeOAuth
	}
	if c.Provider != "" {
		p, err := providers.Canonical(c.Provider)
		if err != nil || p != ref.Provider {
			return c, fmt.Errorf("the JSON names provider %s but the argument is %q", cred.QuoteName(c.Provider), ref.Provider)
		}
	}
	if c.Account != "" && c.Account != ref.Account {
		return c, fmt.Errorf("the JSON names account %s but --account is %q", cred.QuoteName(c.Account), ref.Account)
	}
	return c, nil
}
