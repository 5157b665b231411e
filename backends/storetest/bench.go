package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/credmgr/credmgr/backends"
)

// Bench benchmarks Get and Put on stores holding 1, 100 and 1,000
// credentials. Each operation is a whole locked read (and, for Put, an
// atomic write) of the vault, as a separate credmgr process would do it,
// except that the store's key is already loaded.
func Bench(b *testing.B, newStore Factory) {
	ctx := context.Background()
	for _, n := range []int{1, 100, 1000} {
		fill := func(b *testing.B) backends.Store {
			s := newStore(b, b.TempDir())
			ed := s.(backends.Editor)
			if err := ed.Edit(ctx, func(tx *backends.Tx) error {
				for i := range n {
					if err := tx.Put(sample(fmt.Sprintf("p%04d", i), "default", "access-token")); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			return s
		}
		b.Run(fmt.Sprintf("Get/%d", n), func(b *testing.B) {
			s := fill(b)
			ref := backends.Ref{Provider: "p0000", Account: "default"}
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Get(ctx, ref); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Put/%d", n), func(b *testing.B) {
			s := fill(b)
			c := sample("p0000", "default", "x")
			i := 0
			b.ResetTimer()
			for b.Loop() {
				i++
				c.AccessToken = fmt.Sprint("access-", i)
				if err := s.Put(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
