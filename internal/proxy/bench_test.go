package proxy_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/internal/fakeupstream"
	"github.com/credmgr/credmgr/internal/proxy"
)

// benchEnv is a proxy in front of one fake upstream that records nothing,
// as "credmgr proxy" runs it (the store's file watched for key changes).
type benchEnv struct {
	up         *fakeupstream.Server
	proxyURL   string
	key        string
	client     *http.Client
	upstreamOK string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	up := fakeupstream.New()
	b.Cleanup(up.Close)
	up.Set(func(s *fakeupstream.Server) { s.NoRecord = true })
	path := filepath.Join(b.TempDir(), jsonfile.FileName)
	store := backends.NewVault(path, jsonfile.Guard{}, backends.VaultOptions{})
	ctx := context.Background()
	if err := store.Put(ctx, backends.Credential{Provider: "anthropic", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk-ant-api03-bench"}); err != nil {
		b.Fatal(err)
	}
	key, err := proxy.AddKey(ctx, store, proxy.KeySpec{Name: "bench", Providers: []string{"anthropic"}})
	if err != nil {
		b.Fatal(err)
	}
	srv := proxy.New(proxy.Options{Store: store, VaultPath: func() string { return path }, Log: io.Discard,
		Settings: func(string) map[string]string { return map[string]string{"upstream": up.URL} }})
	ln, err := proxy.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { srv.Serve(sctx, ln); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 128
	return &benchEnv{up: up, proxyURL: "http://" + ln.Addr().String() + "/anthropic", key: key, client: &http.Client{Transport: t}}
}

const benchBody = `{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`

// send POSTs a small message request to base and reads the answer.
func (e *benchEnv) send(b *testing.B, base string) {
	req, _ := http.NewRequest("POST", base+"/v1/messages", strings.NewReader(benchBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("X-Api-Key", e.key)
	resp, err := e.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// sequential sends b.N requests one after another and reports the median
// and 99th-percentile latency.
func (e *benchEnv) sequential(b *testing.B, base string) {
	e.send(b, base) // warm the connections
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		e.send(b, base)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkDirect is a small request straight to the fake upstream: the
// baseline for BenchmarkProxy.
func BenchmarkDirect(b *testing.B) {
	e := newBenchEnv(b)
	e.sequential(b, e.up.URL)
}

// BenchmarkProxy is the same request through the proxy (key check,
// credential headers, forwarding); its p50 minus BenchmarkDirect's is the
// latency the proxy adds.
func BenchmarkProxy(b *testing.B) {
	e := newBenchEnv(b)
	e.sequential(b, e.proxyURL)
}

// BenchmarkProxyParallel64 sends requests from 64 concurrent clients and
// reports requests per second.
func BenchmarkProxyParallel64(b *testing.B) {
	e := newBenchEnv(b)
	for _, target := range []struct{ name, base string }{{"direct", e.up.URL}, {"proxy", e.proxyURL}} {
		b.Run(target.name, func(b *testing.B) {
			e.send(b, target.base)
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e.send(b, target.base)
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// BenchmarkProxyMemory10k sends 10,000 requests (from 8 clients) through
// the proxy per iteration and reports the live heap after the first 1,000
// and after all 10,000 (after a GC): flat memory means they match.
func BenchmarkProxyMemory10k(b *testing.B) {
	e := newBenchEnv(b)
	heap := func() float64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapAlloc) / 1024
	}
	run := func(n int) {
		var wg sync.WaitGroup
		per := n / 8
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range per {
					e.send(b, e.proxyURL)
				}
			}()
		}
		wg.Wait()
	}
	for range b.N {
		run(1000)
		after1k := heap()
		run(9000)
		after10k := heap()
		b.ReportMetric(after1k, "heapKB-after-1k")
		b.ReportMetric(after10k, "heapKB-after-10k")
	}
}
