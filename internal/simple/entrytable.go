package simple

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// entryTable finds a page's record by its key: a hash table with open addressing and linear probing, of 16-byte
// slots (the key, then the pageEntry), in memory mapped from the kernel rather than allocated on the Go heap.
//
// Why not a map: the index of a log that holds every form of PyPI's 886,000 projects has millions of entries, 60 to
// 70 MB. On the heap the collector counted them as live, so it let as much garbage again pile up between
// collections (RSS near 300 MB under the bench's matrix), or, under the soft memory limit, collected without pause
// (a third of the throughput). Out of the heap, the entries cost their size and the collector paces itself on what
// requests allocate.
//
// The caller holds its shard's lock: readers share it for get, the rest hold it alone. A slot whose key is 0 is
// empty; a key of 0 is stored as 1, which only makes two records' keys meet, as two hashes can (a record is always
// checked against its first line). Deletion moves the entries after the deleted one back, so no slot is ever
// marked deleted and a lookup stops at the first empty slot.
type entryTable struct {
	mem   []byte   // the mapping, nil while the table is empty
	slots []uint64 // mem as pairs of key and entry
	n     int      // entries
	shift int      // 64 less the bits of a slot's index
}

// minTableSlots is the smallest table: one page of memory.
const minTableSlots = 256

func tableKey(k uint64) uint64 { return max(k, 1) }

// home is where k's probe starts: the top bits of a multiplicative hash, so that keys that differ in a few bits
// (FNV hashes of names that differ at their end) start apart.
func (t *entryTable) home(k uint64) int { return int((k * 0x9E3779B97F4A7C15) >> t.shift) }

func (t *entryTable) next(i int) int { return (i + 1) & (len(t.slots)/2 - 1) }

// find returns the slot of k, or of the empty slot where it would go.
func (t *entryTable) find(k uint64) (int, bool) {
	for i := t.home(k); ; i = t.next(i) {
		switch t.slots[2*i] {
		case k:
			return i, true
		case 0:
			return i, false
		}
	}
}

func (t *entryTable) get(k uint64) (pageEntry, bool) {
	if t.n == 0 {
		return 0, false
	}
	i, ok := t.find(tableKey(k))
	return pageEntry(t.slots[2*i+1]), ok
}

// put sets k's entry. It keeps nothing, and says so, when no memory could be mapped for the table to grow.
func (t *entryTable) put(k uint64, e pageEntry) bool {
	k = tableKey(k)
	if (t.n+1)*4 > len(t.slots)/2*3 && !t.resize(t.n+1) {
		return false
	}
	i, ok := t.find(k)
	if !ok {
		t.slots[2*i] = k
		t.n++
	}
	t.slots[2*i+1] = uint64(e)
	return true
}

func (t *entryTable) delete(k uint64) {
	if t.n == 0 {
		return
	}
	i, ok := t.find(tableKey(k))
	if !ok {
		return
	}
	// Move back each entry of the run after i that may sit at i: one whose probe starts at or before i.
	for j := t.next(i); t.slots[2*j] != 0; j = t.next(j) {
		h := t.home(t.slots[2*j])
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			t.slots[2*i], t.slots[2*i+1] = t.slots[2*j], t.slots[2*j+1]
			i = j
		}
	}
	t.slots[2*i], t.slots[2*i+1] = 0, 0
	t.n--
}

// deleteIf removes the entries gone says are, into a new table: a segment retires once per segment written.
func (t *entryTable) deleteIf(gone func(pageEntry) bool) {
	keep := 0
	for i := 0; i < len(t.slots); i += 2 {
		if t.slots[i] != 0 && !gone(pageEntry(t.slots[i+1])) {
			keep++
		}
	}
	if keep == t.n {
		return
	}
	old := *t
	*t = entryTable{}
	if keep > 0 && t.resize(keep) {
		for i := 0; i < len(old.slots); i += 2 {
			if old.slots[i] != 0 && !gone(pageEntry(old.slots[i+1])) {
				t.put(old.slots[i], pageEntry(old.slots[i+1]))
			}
		}
	}
	old.clear()
}

// resize moves the entries into a table where entries of them fill at most half the slots.
func (t *entryTable) resize(entries int) bool {
	size, shift := minTableSlots, 64-8 // minTableSlots is 1<<8
	for size < entries*2 {
		size, shift = size*2, shift-1
	}
	mem, err := unix.Mmap(-1, 0, size*16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return false
	}
	old := *t
	t.mem, t.slots, t.n, t.shift = mem, unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), size*2), 0, shift
	for i := 0; i < len(old.slots); i += 2 {
		if old.slots[i] != 0 {
			j, _ := t.find(old.slots[i])
			t.slots[2*j], t.slots[2*j+1] = old.slots[i], old.slots[i+1]
			t.n++
		}
	}
	old.clear()
	return true
}

// clear removes every entry and gives the memory back.
func (t *entryTable) clear() {
	if t.mem != nil {
		unix.Munmap(t.mem)
	}
	*t = entryTable{}
}
