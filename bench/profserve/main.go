// Command profserve serves wharf's read path (the same index and middleware as `wharf serve`, without the pages and
// the upload API) with net/http/pprof and the page log's counters on a second listener, so that the read path can
// be profiled under the shared bench's wrk load:
//
//	go build -o /tmp/profserve ./bench/profserve
//	taskset -c 0 /tmp/profserve -database-url sqlite:$BENCH_DATA/wharf/wharf.db \
//		-listen 127.0.0.1:8080 -debug 127.0.0.1:6060 &
//	go tool pprof -seconds 15 http://127.0.0.1:6060/debug/pprof/profile
//	curl http://127.0.0.1:6060/debug/cache
//
// `wharf serve` has no such endpoint on purpose: profiles and counters are for this bench, not for a public port.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"wharf/internal/front"
	"wharf/internal/httperror"
	"wharf/internal/server"
	"wharf/internal/simple"
	"wharf/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "profserve:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("profserve", flag.ContinueOnError)
	dsn := fs.String("database-url", os.Getenv("WHARF_DATABASE_URL"), "database to serve")
	listen := fs.String("listen", "127.0.0.1:8080", "address of the index")
	debug := fs.String("debug", "127.0.0.1:6060", "address of pprof and /debug/cache")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	server.TuneGC()
	index := simple.New(db, nil, nil, simple.Options{Log: log})
	go index.Run(ctx)

	dm := http.NewServeMux()
	dm.HandleFunc("/debug/pprof/", pprof.Index)
	dm.HandleFunc("/debug/pprof/profile", pprof.Profile)
	dm.HandleFunc("/debug/pprof/trace", pprof.Trace)
	var projectRequests atomic.Int64
	dm.HandleFunc("/debug/cache", func(w http.ResponseWriter, r *http.Request) {
		st := index.FileStats()
		n := projectRequests.Load()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(struct {
			simple.FileStats
			Requests, Hits int64
		}{st, n, n - st.Misses})
	})
	go http.ListenAndServe(*debug, dm)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	h := server.New(index, noUploads{}, db, log).Handler()
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Hits are the requests for project pages and JSON API documents less the page log's misses: the index counts
		// no hits, to keep its hit path free of shared writes. This counter is the bench's, and costs the same
		// in every run.
		if strings.HasPrefix(r.URL.Path, "/simple/") && len(r.URL.Path) > len("/simple/") ||
			strings.HasPrefix(r.URL.Path, "/pypi/") {
			projectRequests.Add(1)
		}
		h.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: counted, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	door := front.New(srv, server.ReadPath, log)
	go func() { <-ctx.Done(); door.Close() }()
	if err := door.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type noUploads struct{}

func (noUploads) ServeUpload(http.ResponseWriter, *http.Request) error {
	return httperror.New(http.StatusNotFound, "Not Found")
}
