package store

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// goodStore writes a real store with snapshots and queued records and returns
// its bytes.
func goodStore(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path, Options{CommitInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		s.PutSnapshot("v", bytes.Repeat([]byte{byte('a' + i)}, 10000))
	}
	// Small commits: many queue packs, so the queue spans many leaf pages.
	for i := 0; i < 3000; i++ {
		s.Append(rec(i, 300))
		if i%5 == 4 {
			s.Flush(context.Background())
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptFilesAreQuarantined(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) { os.WriteFile(path, garbage(64<<10), 0o600) }},
		{"text-file", func(t *testing.T, path string) { os.WriteFile(path, []byte("not a database\n"), 0o600) }},
		{"truncated", func(t *testing.T, path string) {
			goodStore(t, path)
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()*2/5); err != nil {
				t.Fatal(err)
			}
		}},
		{"meta-pages-zeroed", func(t *testing.T, path string) {
			goodStore(t, path)
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			defer f.Close()
			f.WriteAt(make([]byte, 2*os.Getpagesize()), 0)
		}},
		{"data-pages-garbage", func(t *testing.T, path string) {
			goodStore(t, path)
			fi, _ := os.Stat(path)
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			defer f.Close()
			ps := int64(os.Getpagesize())
			// Scribble over every page after the metas except the last few.
			for off := 2 * ps; off < fi.Size()-4*ps; off += ps {
				f.WriteAt(garbage(64), off)
			}
		}},
		{"leaf-page-scribbled", func(t *testing.T, path string) {
			goodStore(t, path)
			var leaves []int
			db, _ := bolt.Open(path, 0o600, nil)
			db.View(func(tx *bolt.Tx) error {
				for id := 2; ; id++ {
					pi, err := tx.Page(id)
					if err != nil || pi == nil {
						return nil
					}
					if pi.Type == "leaf" {
						leaves = append(leaves, id)
					}
				}
			})
			db.Close()
			if len(leaves) < 10 {
				t.Fatalf("only %d leaf pages", len(leaves))
			}
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			defer f.Close()
			ps := int64(os.Getpagesize())
			// Keep the page header (16 bytes), break the element table.
			f.WriteAt(bytes.Repeat([]byte{0xff}, 200), int64(leaves[len(leaves)/2])*ps+16)
		}},
		{"foreign-bbolt-file", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error {
				b, _ := tx.CreateBucket([]byte("someone-else"))
				return b.Put([]byte("k"), []byte("v"))
			})
			db.Close()
		}},
		{"schema-unreadable", func(t *testing.T, path string) {
			goodStore(t, path)
			db, _ := bolt.Open(path, 0o600, nil)
			db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte{1}) })
			db.Close()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "apimgw.db")
			tc.damage(t, path)
			damaged, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			logs := &syncBuffer{}
			now := time.Date(2026, 11, 26, 4, 5, 6, 0, time.UTC)
			s, err := Open(path, Options{Logger: testLogger(logs), Now: func() time.Time { return now }, CommitInterval: time.Millisecond})
			if err != nil {
				t.Fatalf("Open of a damaged file failed instead of starting fresh: %v", err)
			}
			st := s.Status()
			want := path + ".corrupt-20261126T040506Z"
			if st.QuarantinedTo != want || st.QuarantineReason == "" || !st.QuarantinedAt.Equal(now) {
				t.Fatalf("status %+v, want quarantined to %s", st, want)
			}
			moved, err := os.ReadFile(want)
			if err != nil || !bytes.Equal(moved, damaged) {
				t.Fatalf("quarantined file differs from the damaged one (%v)", err)
			}
			if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "MOVED ASIDE") || !strings.Contains(l, want) {
				t.Fatalf("no loud log line: %s", l)
			}
			t.Logf("reason: %s", st.QuarantineReason)
			// The fresh store works.
			if _, err := s.CurrentSnapshot(); err != ErrNoSnapshot {
				t.Fatalf("fresh store has a snapshot? %v", err)
			}
			if _, err := s.PutSnapshot("v1", []byte("{}")); err != nil {
				t.Fatal(err)
			}
			s.Append([]byte("hello"))
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if recs, err := s.Read(0, 10, 0); err != nil || len(recs) != 1 {
				t.Fatalf("fresh queue: %v %v", recs, err)
			}
			s.Close()
			// And it is not quarantined again.
			s2, err := Open(path, Options{Logger: testLogger(&syncBuffer{})})
			if err != nil || s2.Status().QuarantinedTo != "" {
				t.Fatalf("second open: %v %+v", err, s2.Status())
			}
			s2.Close()
			checkFile(t, path)
			// A second quarantine in the same second gets its own name.
			os.Remove(path)
			tc.damage(t, path)
			s3, err := Open(path, Options{Logger: testLogger(&syncBuffer{}), Now: func() time.Time { return now }})
			if err != nil || s3.Status().QuarantinedTo != want+".1" {
				t.Fatalf("second quarantine: %v %+v", err, s3.Status())
			}
			s3.Close()
		})
	}
}
