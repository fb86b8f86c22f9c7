package simple

import (
	"math/rand/v2"
	"testing"
)

// TestEntryTable: puts, overwrites, deletes and deletions by entry, through growth and across the end of the table,
// leave the table holding exactly what a map holds; keys whose probes meet (few bits apart, 0 and 1) included.
func TestEntryTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tab entryTable
	defer tab.clear()
	want := map[uint64]pageEntry{}
	// Keys whose probes start at a few slots near the table's end make long runs that wrap around it, so that a
	// deletion moves entries from either side of the end.
	var multiplier, inverse uint64 = 0x9E3779B97F4A7C15, 0xf1de83e19937733d // home's, and its inverse modulo 2^64
	if inverse*multiplier != 1 {
		t.Fatal("not the multiplier's inverse")
	}
	key := func() uint64 {
		switch rng.IntN(4) {
		case 0:
			return rng.Uint64N(4) // 0 and 1 are one key
		case 1:
			if tab.mem == nil {
				return rng.Uint64()
			}
			slots := uint64(len(tab.slots) / 2)
			home := (slots - 1 - rng.Uint64N(6)) % slots
			if rng.IntN(3) == 0 {
				home = rng.Uint64N(3)
			}
			return (home<<tab.shift | rng.Uint64N(1<<tab.shift)) * inverse
		default:
			return rng.Uint64()
		}
	}
	check := func(step int) {
		t.Helper()
		if tab.n != len(want) {
			t.Fatalf("step %d: %d entries, want %d", step, tab.n, len(want))
		}
		for k, e := range want {
			if got, ok := tab.get(k); !ok || got != e {
				t.Fatalf("step %d: key %d reads %d %v, want %d", step, k, got, ok, e)
			}
		}
		found := 0
		for i := 0; i < len(tab.slots); i += 2 {
			if tab.slots[i] != 0 {
				found++
				if tab.slots[i+1] != uint64(want[tab.slots[i]]) {
					t.Fatalf("step %d: a slot holds key %d, which the map does not", step, tab.slots[i])
				}
			}
		}
		if found != len(want) {
			t.Fatalf("step %d: %d slots used for %d entries", step, found, len(want))
		}
	}
	var put []uint64
	for step := range 60000 {
		k := tableKey(key())
		switch op := rng.IntN(10); {
		case op < 6:
			e := pageEntry(rng.Uint64())
			if !tab.put(k, e) {
				t.Fatalf("step %d: put refused", step)
			}
			want[k] = e
			put = append(put, k)
		case op < 9:
			if len(put) > 0 && rng.IntN(4) > 0 { // mostly a key that is there
				k = put[rng.IntN(len(put))]
			}
			tab.delete(k)
			delete(want, k)
		default:
			if _, ok := tab.get(k + 1<<40); ok && want[k+1<<40] == 0 {
				t.Fatalf("step %d: a key never put was found", step)
			}
		}
		if step%5000 == 0 {
			check(step)
		}
		if step%20000 == 19999 { // as a segment retires: about half the entries go
			odd := func(e pageEntry) bool { return e%2 == 1 }
			tab.deleteIf(odd)
			for k, e := range want {
				if odd(e) {
					delete(want, k)
				}
			}
			check(step)
		}
	}
	check(-1)
	tab.deleteIf(func(pageEntry) bool { return true })
	want = map[uint64]pageEntry{}
	check(-2)
	if tab.mem != nil {
		t.Error("an empty table keeps its memory")
	}
}
