package storetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/internal/fsutil"
)

// BenchSizes are the vault sizes Bench measures. CREDMGR_BENCH_MAX, if
// set, leaves out the larger ones (for a quick run).
var BenchSizes = []int{1, 100, 1000, 10000}

// Bench benchmarks Get and Put on stores holding 1, 100, 1,000 and 10,000
// credentials:
//
//   - Get: a read by a store that has read the vault before (the key is
//     loaded and the file unchanged), as a second read in one process;
//   - GetCold: a read by a new store over the same directory, as a new
//     credmgr process does it (the file is read and opened, the key is
//     looked up again: for a passphrase vault that is a scrypt);
//   - Put: a whole locked read-modify-write of one credential with an
//     atomic write, by a store that has the key loaded;
//   - PutCold: the same by a new store over the same directory, as a new
//     credmgr process does it ("credmgr import", a refresh).
//
// The growth from 1 to 10,000 credentials is what the numbers are for.
func Bench(b *testing.B, newStore Factory) {
	ctx := context.Background()
	for _, n := range benchSizes() {
		fill := func(b *testing.B) (backends.Store, string) {
			dir := b.TempDir()
			s := newStore(b, dir)
			fillBench(b, s.(backends.Editor), n)
			return s, dir
		}
		ref := backends.Ref{Provider: "p00000", Account: "default"}
		b.Run(fmt.Sprintf("Get/%d", n), func(b *testing.B) {
			s, _ := fill(b)
			if _, err := s.Get(ctx, ref); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Get(ctx, ref); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("GetCold/%d", n), func(b *testing.B) {
			_, dir := fill(b)
			b.ResetTimer()
			for b.Loop() {
				if _, err := newStore(b, dir).Get(ctx, ref); err != nil {
					b.Fatal(err)
				}
			}
		})
		// put writes one credential again and again through the store
		// store returns for the filled directory.
		put := func(b *testing.B, store func(s backends.Store, dir string) backends.Store) {
			s, dir := fill(b)
			c := sample("p00000", "default", "x")
			i := 0
			b.ResetTimer()
			for b.Loop() {
				i++
				c.AccessToken = fmt.Sprint("access-", i)
				if err := store(s, dir).Put(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.Run(fmt.Sprintf("PutCold/%d", n), func(b *testing.B) {
			put(b, func(_ backends.Store, dir string) backends.Store { return newStore(b, dir) })
		})
		b.Run(fmt.Sprintf("Put/%d", n), func(b *testing.B) {
			put(b, func(s backends.Store, _ string) backends.Store { return s })
		})
	}
}

// BenchFloor measures, for the vault sizes of Bench, the least that any
// write of a vault kept in one sealed file must do: seal the whole
// encoded document with the guard newGuard returns and write it
// atomically (temp file, fsync, rename, directory fsync), with nothing
// decoded, encoded or compared. Bench's Put at n credentials, divided by
// this floor at n, is what the store adds; the floor's own growth from 1
// to n credentials is what no store over this guard and file can avoid.
func BenchFloor(b *testing.B, newGuard func(t testing.TB, path string) backends.Guard) {
	ctx := context.Background()
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("Put/%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "vault")
			g := newGuard(b, path)
			fillBench(b, backends.NewVault(path, g, backends.VaultOptions{}), n)
			sealed, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			plain, err := g.Open(ctx, sealed)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(plain)))
			b.ResetTimer()
			for b.Loop() {
				sealed, err := g.Seal(ctx, plain)
				if err != nil {
					b.Fatal(err)
				}
				if err := fsutil.WriteFileAtomic(path, sealed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fillBench stores n sample credentials, p00000/default and on, in one
// edit.
func fillBench(b *testing.B, ed backends.Editor, n int) {
	if err := ed.Edit(context.Background(), func(tx *backends.Tx) error {
		for i := range n {
			if err := tx.Put(sample(fmt.Sprintf("p%05d", i), "default", "access-token")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
}

// benchSizes returns BenchSizes without the sizes above
// CREDMGR_BENCH_MAX, if set.
func benchSizes() []int {
	max := 1 << 30
	if v := os.Getenv("CREDMGR_BENCH_MAX"); v != "" {
		fmt.Sscan(v, &max)
	}
	var sizes []int
	for _, n := range BenchSizes {
		if n <= max {
			sizes = append(sizes, n)
		}
	}
	return sizes
}
