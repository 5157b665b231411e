package flows

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/credmgr/credmgr/backends"
)

// TestKeepSharesNoMemory: the credential a Transport keeps between
// requests shares no memory with the one the store returned. A vault
// decodes its document into one string of which every credential's
// strings are parts, so a kept access token that is such a part would
// keep the whole document, every refresh token in it included, in memory
// for as long as the proxy runs (keep drops the refresh token for that
// very reason).
func TestKeepSharesNoMemory(t *testing.T) {
	// One string, as backends decodes a vault, with a second credential's
	// refresh token in it.
	doc := strings.Clone(`{"provider":"openai","account":"default","type":"oauth",` +
		`"access_token":"at-canary","token_type":"Bearer","refresh_token":"rt-canary","id_token":"id-canary",` +
		`"scopes":["openid"],"account_id":"acct-1","extra":{"email":"a@example.com"},"source":"login",` +
		`"other":{"refresh_token":"rt-other-canary"}}`)
	part := func(s string) string {
		i := strings.Index(doc, `"`+s+`"`)
		if i < 0 {
			t.Fatalf("%q is not in the document", s)
		}
		return doc[i+1 : i+1+len(s)]
	}
	c := backends.Credential{Provider: part("openai"), Account: part("default"), Type: backends.Type(part("oauth")),
		AccessToken: part("at-canary"), TokenType: part("Bearer"), RefreshToken: part("rt-canary"), IDToken: part("id-canary"),
		Expiry: time.Now().Add(time.Hour), Scopes: []string{part("openid")}, AccountID: part("acct-1"),
		Extra: map[string]string{part("email"): part("a@example.com")}, Source: part("login")}

	start := uintptr(unsafe.Pointer(unsafe.StringData(doc)))
	end := start + uintptr(len(doc))
	var check func(path string, v reflect.Value)
	check = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			if v.Len() == 0 {
				return
			}
			p := uintptr(unsafe.Pointer(unsafe.StringData(v.String())))
			if p >= start && p < end {
				t.Errorf("the kept credential's %s is part of the store's document", path)
			}
		case reflect.Slice:
			for i := range v.Len() {
				check(path+"[i]", v.Index(i))
			}
		case reflect.Map:
			for it := v.MapRange(); it.Next(); {
				check(path+" key", it.Key())
				check(path+" value", it.Value())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					check(v.Type().Field(i).Name, v.Field(i))
				}
			}
		}
	}
	u := (&ProviderTransport{}).keep(c, time.Now())
	check("", reflect.ValueOf(u.c))
	if u.c.AccessToken != "at-canary" || u.c.Provider != "openai" || u.c.Extra["email"] != "a@example.com" || !u.hasRefresh {
		t.Errorf("keep changed the credential: %+v", u.c)
	}
}
