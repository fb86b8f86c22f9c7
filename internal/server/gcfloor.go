package server

import (
	"os"
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

// RaiseGCFloor sets the floor once per process, unless GOGC is set: who sets it has chosen the pacing.
func RaiseGCFloor() {
	if os.Getenv("GOGC") != "" {
		return
	}
	gcFloor.once.Do(func() { gcFloor.b = make([]byte, 32<<20) })
}
