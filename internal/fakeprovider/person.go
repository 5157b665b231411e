package fakeprovider

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Browse does what a person's browser does with an authorize URL: it
// follows redirects (to a loopback callback, or to a page that shows a
// code) and returns the code the final page shows for pasting, if any,
// from a line "Authentication code: X" or "authorization code: X".
func Browse(url string) (pasteable string, err error) {
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		line := sc.Text()
		for _, p := range []string{"Authentication code: ", "authorization code: "} {
			if i := strings.Index(line, p); i >= 0 {
				return strings.TrimSpace(line[i+len(p):]), nil
			}
		}
	}
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("browser got HTTP %d", resp.StatusCode)
	}
	return "", nil
}

// Person is the one flows.UI for tests: it stands in for the person
// logging in and records everything the flow shows. By default
// OpenBrowser browses the URL (see Browse) and Prompt answers with the
// code the page showed, passed through Paste when it is set.
type Person struct {
	// NoBrowser makes OpenBrowser report that no browser could be opened
	// (and do nothing but record the URL); Prompt then fails, as there is
	// no page whose code to paste.
	NoBrowser bool
	// Paste, when set, changes what is pasted (to test wrong states).
	Paste func(shown string) string
	// Browse, when set, is what OpenBrowser does with the URL instead; its
	// result is OpenBrowser's.
	Browse func(url string) bool
	// Answer, when set, is what Prompt answers instead, given the first
	// URL the flow showed.
	Answer func(authURL string) (string, error)

	mu      sync.Mutex
	lines   []string
	infos   []string
	prompts []string
	opened  []string
	authURL string
	shown   chan string
	errs    []error
	waited  int
	stops   int
}

func (p *Person) init() {
	if p.shown == nil {
		p.shown = make(chan string, 1)
	}
}

// Info records a line; the first that is a URL is the authorize URL.
func (p *Person) Info(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, msg)
	p.infos = append(p.infos, msg)
	if strings.HasPrefix(msg, "http") && p.authURL == "" {
		p.authURL = msg
	}
}

// OpenBrowser records url and browses it in the background.
func (p *Person) OpenBrowser(url string) bool {
	p.mu.Lock()
	p.init()
	p.opened = append(p.opened, url)
	ch := p.shown
	p.mu.Unlock()
	if p.Browse != nil {
		return p.Browse(url)
	}
	if p.NoBrowser {
		return false
	}
	go func() {
		code, err := Browse(url)
		if err != nil {
			p.mu.Lock()
			p.errs = append(p.errs, err)
			p.mu.Unlock()
		}
		select {
		case ch <- code:
		default:
		}
	}()
	return true
}

// Prompt returns the code the browsed page showed.
func (p *Person) Prompt(ctx context.Context, msg string) (string, error) {
	p.mu.Lock()
	p.lines = append(p.lines, msg)
	p.prompts = append(p.prompts, msg)
	p.init()
	ch, authURL := p.shown, p.authURL
	p.mu.Unlock()
	switch {
	case p.Answer != nil:
		return p.Answer(authURL)
	case p.NoBrowser:
		return "", errors.New("test person: nothing to paste without a browser")
	}
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case code := <-ch:
		if p.Paste != nil {
			code = p.Paste(code)
		}
		return code, nil
	}
}

// Wait records that the flow waited; the returned stop is counted.
func (p *Person) Wait(msg string) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, msg)
	p.waited++
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.stops++
	}
}

// Lines returns everything shown, one entry per Info/Prompt/Wait.
func (p *Person) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Infos returns the lines shown with Info.
func (p *Person) Infos() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.infos...)
}

// Prompts returns the prompts shown.
func (p *Person) Prompts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.prompts...)
}

// Opened returns the URLs given to OpenBrowser.
func (p *Person) Opened() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.opened...)
}

// AuthURL returns the first URL the flow showed with Info.
func (p *Person) AuthURL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.authURL
}

// Waits returns how often the flow waited, and Stops how often it
// stopped a wait.
func (p *Person) Waits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waited
}

// Stops returns how often the flow stopped a wait.
func (p *Person) Stops() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stops
}

// Text returns everything shown and every URL opened, one per line (for
// the canary checks).
func (p *Person) Text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(append(append([]string(nil), p.lines...), p.opened...), "\n")
}
