package store

import (
	"fmt"
	"testing"
)

// TestSnapshotFactsKept: every kept row keeps the facts it was stored with —
// origin, API count, received time — not only the current one, across a
// rollback and a reopen of the file.
func TestSnapshotFactsKept(t *testing.T) {
	s, path := openTest(t, Options{KeepSnapshots: 5})
	want := map[string]SnapshotFacts{}
	for i := 1; i <= 4; i++ {
		v := fmt.Sprintf("%d", i)
		f := SnapshotFacts{Origin: []string{"control-plane", "file"}[i%2], APIs: i * 3}
		want[v] = f
		if _, err := s.PutSnapshotFacts(v, []byte(fmt.Sprintf(`{"n":%d}`, i)), f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SetCurrentSnapshot(2); err != nil {
		t.Fatal(err)
	}
	check := func(st *Store, when string) {
		t.Helper()
		list, err := st.Snapshots()
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 4 {
			t.Fatalf("%s: %d rows, want 4", when, len(list))
		}
		for _, in := range list {
			if in.SnapshotFacts != want[in.Version] || in.AcceptedAt.IsZero() {
				t.Errorf("%s: row %s: facts %+v received %v, want %+v", when, in.Version, in.SnapshotFacts, in.AcceptedAt, want[in.Version])
			}
			if in.Current != (in.Version == "2") {
				t.Errorf("%s: row %s current=%v", when, in.Version, in.Current)
			}
		}
	}
	check(s, "open")
	// Re-putting the current snapshot adds no row and keeps its facts.
	if info, err := s.PutSnapshotFacts("2", []byte(`{"n":2}`), SnapshotFacts{Origin: "other", APIs: 99}); err != nil || info.SnapshotFacts != want["2"] {
		t.Fatalf("re-put of current: %+v %v", info, err)
	}
	s.Close()
	s2, err := Open(path, Options{KeepSnapshots: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	check(s2, "reopened")
}
