package fakeprovider

import (
	"bufio"
	"context"
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

// Person is a flowapi.UI for tests that stands in for the person logging
// in: OpenBrowser browses the URL (see Browse) and Prompt answers with
// the code the page showed, passed through Paste when it is set.
type Person struct {
	// NoBrowser makes OpenBrowser report that no browser could be opened
	// (and do nothing).
	NoBrowser bool
	// Paste, when set, changes what is pasted (to test wrong states).
	Paste func(shown string) string

	mu     sync.Mutex
	lines  []string
	shown  chan string
	errs   []error
	waited int
}

func (p *Person) init() {
	if p.shown == nil {
		p.shown = make(chan string, 1)
	}
}

// Info records a line.
func (p *Person) Info(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, msg)
}

// OpenBrowser browses url in the background.
func (p *Person) OpenBrowser(url string) bool {
	p.mu.Lock()
	p.init()
	ch := p.shown
	p.mu.Unlock()
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
	p.Info(msg)
	p.mu.Lock()
	p.init()
	ch := p.shown
	p.mu.Unlock()
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

// Wait records that the flow waited.
func (p *Person) Wait(msg string) func() {
	p.Info(msg)
	p.mu.Lock()
	p.waited++
	p.mu.Unlock()
	return func() {}
}

// Lines returns everything shown, one entry per Info/Prompt/Wait.
func (p *Person) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}
