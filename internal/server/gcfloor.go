package server

import (
	"os"
	"runtime/debug"
	"sync"
)

// gcFloor is heap the collector counts but nothing uses. The collector runs when the heap has grown by GOGC percent
// of what the last cycle left live; a read-mostly server's live heap is a few megabytes, and every request
// allocates, so without a floor it collected 70 times a second under load, which cost the simple API 6 to 8 % of
// its throughput (bench/profserve, hot and Zipf). 32 MiB of floor makes that a few times a second. The floor is
// never written, so the kernel never gives it memory; the garbage let to pile up between collections does take
// memory, up to the floor's size.
var gcFloor struct {
	once sync.Once
	b    []byte
}

const (
	floorBytes = 32 << 20
	// workingBytes is what requests in flight and the garbage between collections may take beside the floor: page
	// bodies are not in the heap (the index serves them from files).
	workingBytes = 96 << 20
)

// TuneGC paces the collector of a server, once per process.
//
// It raises the floor, unless GOGC is set (who sets it has chosen the pacing). And it sets a soft memory limit of
// the floor and workingBytes, unless GOMEMLIMIT is set: near the limit the collector runs sooner and the
// runtime gives idle memory back to the kernel, instead of keeping the high-water mark of every burst (under
// bench/compare.sh's Zipf and JSON API scenarios, peak RSS went from 340 to 212 MB at the same throughput). The
// limit is soft: a heap that needs more still grows.
func TuneGC() {
	gcFloor.once.Do(func() {
		if os.Getenv("GOGC") == "" {
			gcFloor.b = make([]byte, floorBytes)
		}
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(floorBytes + workingBytes)
		}
	})
}
