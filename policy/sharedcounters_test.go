package policy

import (
	"testing"
	"time"
)

// fakeShared stands in for Redis (outside this repository): it keeps the
// queued updates until the test answers them.
type fakeShared struct {
	up      bool
	updates []CounterUpdate
}

func (f *fakeShared) Add(u CounterUpdate) bool {
	if !f.up {
		return false
	}
	f.updates = append(f.updates, u)
	return true
}

// TestApplyShared: the State counts locally at once, takes the shared total
// back (plus what is still in flight), aligns a rate window to the shared
// one, ignores answers for an ended quota period, and a failed update only
// releases its in-flight count.
func TestApplyShared(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	st := NewState(func() time.Time { return now })
	f := &fakeShared{up: true}
	st.SetShared(f)

	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"rate total and window", func(t *testing.T) {
			st.rateTake("r", "k", 10, time.Minute, 1)
			st.rateTake("r", "k", 10, time.Minute, 1)
			if len(f.updates) != 2 || f.updates[0].Policy != "r" || f.updates[0].Key != "k" || f.updates[0].Calls != 1 || f.updates[0].Period != time.Minute {
				t.Fatalf("updates %+v", f.updates)
			}
			// Redis: 7 calls so far (the other replicas'), window ends in 20s.
			st.ApplyShared(f.updates[0], CounterTotal{Calls: 7, Left: 20 * time.Second}, false)
			ok, rem, retry := st.rateTake("r", "k", 10, time.Minute, 0)
			if !ok || rem != 2 || retry != 20*time.Second {
				t.Fatalf("after the total: ok %v remaining %d retry %v, want true 2 (7 + 1 in flight) 20s", ok, rem, retry)
			}
			st.ApplyShared(f.updates[1], CounterTotal{Calls: 10, Left: 20 * time.Second}, false)
			if ok, _, _ := st.rateTake("r", "k", 10, time.Minute, 1); ok {
				t.Fatal("a call passed the shared total of 10")
			}
			f.updates = nil
		}},
		{"failed releases in flight", func(t *testing.T) {
			st.rateTake("r2", "k", 3, time.Minute, 1)
			st.rateTake("r2", "k", 3, time.Minute, 1)
			st.ApplyShared(f.updates[0], CounterTotal{}, true)
			st.ApplyShared(f.updates[1], CounterTotal{Calls: 2, Left: time.Minute}, false)
			if _, rem, _ := st.rateTake("r2", "k", 3, time.Minute, 0); rem != 1 {
				t.Fatalf("remaining %d, want 1", rem)
			}
			f.updates = nil
		}},
		{"quota period", func(t *testing.T) {
			q := &quotaSpec{calls: 5, period: time.Hour}
			st.quotaTake("q", "k", q, 1)
			u := f.updates[0]
			if !u.Quota || !u.PeriodStart.Equal(quotaPeriod(now, time.Time{}, time.Hour)) {
				t.Fatalf("update %+v", u)
			}
			st.ApplyShared(u, CounterTotal{Calls: 5}, false)
			if ok, _ := st.quotaTake("q", "k", q, 1); ok {
				t.Fatal("a call passed the shared quota")
			}
			old := u
			old.PeriodStart = u.PeriodStart.Add(-time.Hour)
			st.ApplyShared(old, CounterTotal{Calls: 0}, false) // an ended period: ignored
			if ok, _ := st.quotaTake("q", "k", q, 1); ok {
				t.Fatal("an answer for an ended period changed the count")
			}
			f.updates = nil
		}},
		{"down: local only", func(t *testing.T) {
			f.up = false
			for i := 0; i < 3; i++ {
				if ok, _, _ := st.rateTake("r3", "k", 3, time.Minute, 1); !ok {
					t.Fatal("refused while counting locally")
				}
			}
			if ok, _, _ := st.rateTake("r3", "k", 3, time.Minute, 1); ok {
				t.Fatal("the local count does not hold the limit")
			}
			if len(f.updates) != 0 {
				t.Fatalf("queued while down: %+v", f.updates)
			}
			f.up = true
		}},
	} {
		t.Run(tc.name, tc.run)
	}
}
