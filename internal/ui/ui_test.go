package ui_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/internal/ui"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOpenBrowser(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "opened")
	script := filepath.Join(dir, "browser.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s' \"$1\" > "+out+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	term := &ui.Terminal{Out: &bytes.Buffer{}, Getenv: env(map[string]string{"BROWSER": script})}
	if !term.OpenBrowser("http://127.0.0.1:1/authorize?x=1") {
		t.Fatal("$BROWSER was not started")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(out)
		if err == nil && len(b) > 0 {
			if string(b) != "http://127.0.0.1:1/authorize?x=1" {
				t.Errorf("browser got %q", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the browser command never ran")
		}
		time.Sleep(20 * time.Millisecond)
	}

	noDisplay := &ui.Terminal{Out: &bytes.Buffer{}, Getenv: env(map[string]string{})}
	if noDisplay.OpenBrowser("http://x") && !ui.HasDisplay(env(map[string]string{})) {
		t.Error("claimed to open a browser without a display or $BROWSER")
	}
	off := &ui.Terminal{Out: &bytes.Buffer{}, NoBrowser: true, Getenv: env(map[string]string{"BROWSER": script})}
	if off.OpenBrowser("http://x") {
		t.Error("opened a browser with NoBrowser")
	}
	missing := &ui.Terminal{Out: &bytes.Buffer{}, Getenv: env(map[string]string{"BROWSER": filepath.Join(dir, "nope")})}
	if missing.OpenBrowser("http://x") {
		t.Error("reported success for a browser command that does not exist")
	}
}

func TestHasDisplay(t *testing.T) {
	if ui.HasDisplay(env(map[string]string{"DISPLAY": ":0", "SSH_CONNECTION": "1 2 3 4"})) {
		t.Error("a display over SSH counts as local")
	}
}

func TestPrompt(t *testing.T) {
	var out bytes.Buffer
	term := &ui.Terminal{Out: &out, In: strings.NewReader("  code#state \nsecond\n")}
	got, err := term.Prompt(context.Background(), "Paste: ")
	if err != nil || got != "code#state" {
		t.Fatalf("Prompt = %q, %v", got, err)
	}
	if got, _ := term.Prompt(context.Background(), "Again: "); got != "second" {
		t.Errorf("second Prompt = %q (buffered input lost)", got)
	}
	if !strings.Contains(out.String(), "Paste: ") {
		t.Errorf("prompt not shown: %q", out.String())
	}
	if _, err := term.Prompt(context.Background(), "More: "); !errors.Is(err, ui.ErrNoInput) {
		t.Errorf("at end of input: err = %v", err)
	}

	r, w, _ := os.Pipe()
	defer w.Close()
	blocked := &ui.Terminal{Out: &bytes.Buffer{}, In: r}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := blocked.Prompt(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled Prompt: err = %v", err)
	}
}

func TestWaitPlain(t *testing.T) {
	var out bytes.Buffer
	term := &ui.Terminal{Out: &out}
	stop := term.Wait("waiting for approval")
	time.Sleep(50 * time.Millisecond)
	stop()
	stop() // a second stop is harmless
	if got := out.String(); got != "waiting for approval…\n" {
		t.Errorf("not a terminal: output %q, want one plain line", got)
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, café":                       "plain text, café",
		"a\x1b[2Jb\x1b]0;title\x07c":             "a[2Jb]0;titlec",
		"line\r\ncredmgr: hint: forged\n":        "linecredmgr: hint: forged",
		"tab\tand del\x7f and c1 \u009b31m":      "taband del and c1 31m",
		"bidi \u202egnp.exe\u202c \u2066x\u2069": "bidi gnp.exe x",
		"sep\u2028ara\u2029tor":                  "separator",
		"bad utf-8 \xff":                         "bad utf-8 \xff",
	} {
		got := ui.Clean(in)
		if in == "bad utf-8 \xff" {
			if got != "bad utf-8 \uFFFD" {
				t.Errorf("Clean(%q) = %q", in, got)
			}
			continue
		}
		if got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestInfoCleans: what a flow shows (which may come from a provider's
// answer) cannot add lines or escape sequences.
func TestInfoCleans(t *testing.T) {
	var out bytes.Buffer
	term := &ui.Terminal{Out: &out}
	term.Info("enter the code: AB\x1b[2J\ncredmgr: hint: forged")
	if got := out.String(); got != "enter the code: AB[2Jcredmgr: hint: forged\n" {
		t.Errorf("Info printed %q", got)
	}
}
