// Command walk asks a server for every path of a paths file once, with a few connections, and says how many answers
// were not 200: bench/compare.sh's WARM uses it so that each server has served every page of a mix before the mix
// is measured.
//
//	go run ./bench/walk -base http://127.0.0.1:8080/simple/ -paths $BENCH_DATA/static/paths/uniform.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("base", "", "URL the paths are relative to, ending in /")
	paths := flag.String("paths", "", "file of paths, one per line")
	conns := flag.Int("conns", 8, "requests at once")
	flag.Parse()
	f, err := os.Open(*paths)
	if err != nil {
		fmt.Fprintln(os.Stderr, "walk:", err)
		os.Exit(1)
	}
	defer f.Close()
	work := make(chan string, 1024)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conns}, Timeout: 30 * time.Second}
	var requests, failures atomic.Int64
	var wg sync.WaitGroup
	for range *conns {
		wg.Go(func() {
			for p := range work {
				requests.Add(1)
				resp, err := client.Get(*base + p)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
				}
			}
		})
	}
	start := time.Now()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		if p := lines.Text(); p != "" && p != "=" {
			work <- p
		}
	}
	close(work)
	wg.Wait()
	fmt.Printf("walked %d paths in %.0f s, %d not 200\n", requests.Load(), time.Since(start).Seconds(), failures.Load())
}
