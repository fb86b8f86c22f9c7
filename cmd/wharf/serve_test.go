package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/config"
	"wharf/internal/notify"
	"wharf/internal/store"
)

// runningAt reads the first line of the greeting of wharf serve: the site's one address, without its final slash.
var runningAt = regexp.MustCompile(`^wharf \S+ is running at (http://\S+)/$`)

// loadConfig resolves a configuration as wharf serve does, the base URL included.
func loadConfig(t *testing.T, env map[string]string, listen *net.TCPAddr) config.Config {
	t.Helper()
	cfg, _, err := config.Load(flag.NewFlagSet("serve", flag.ContinueOnError), nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BaseURLFromListen {
		cfg.BaseURL = baseURLFor(listen)
	}
	return cfg
}

func TestGreetingOfAFirstStart(t *testing.T) {
	listen := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	cfg := loadConfig(t, nil, listen)
	outbox, err := notify.NewOutbox(filepath.Join(t.TempDir(), "outbox"), cfg.MailFrom, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := greeting(cfg, listen, outbox)
	if err != nil {
		t.Fatal(err)
	}
	want := "wharf " + version + ` is running at http://localhost:8080/
  Data: ` + absolute("wharf-data") + ` (SQLite database and files)
  Mail: not sent; each message is a file in ` + outbox.Dir() + ` (set WHARF_SMTP_URL to send it)
  Next: register on the site at http://localhost:8080/account/register/ , or create the first administrator
        (the password is read from standard input):
        wharf user create NAME --email ADDRESS && wharf user admin NAME
  Upload with twine:  twine upload --repository-url http://localhost:8080/legacy/ -u __token__ dist/*
                      (the password is an API token: make one on the site, or wharf token create --user NAME)
  Install with pip:   pip install --index-url http://localhost:8080/simple/ NAME
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("greeting (-want +got):\n%s", diff)
	}
}

func TestGreetingSaysWhatDiffers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		listen *net.TCPAddr
		smtp   string
		want   []string // lines, trimmed
		absent []string // anywhere
	}{
		{
			name: "behind a proxy, with PostgreSQL and a relay",
			env: map[string]string{"WHARF_BASE_URL": "https://pypi.example.org", "WHARF_DATA_DIR": "/srv/my wharf",
				"WHARF_DATABASE_URL": "postgres://wharf:db-secret@db.internal/wharf"},
			listen: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080},
			smtp:   "smtps://mailer:mail-secret@smtp.example.org",
			want: []string{
				"wharf " + version + " is running at https://pypi.example.org/",
				"Listening on 127.0.0.1:8080 (plain HTTP): WHARF_BASE_URL says the address above leads here.",
				"Data: /srv/my wharf; files in /srv/my wharf/files; database postgres://wharf:xxxxx@db.internal/wharf",
				"Mail: sent through smtps://mailer:xxxxx@smtp.example.org",
				"(with this server's WHARF_DATABASE_URL set; the password is read from standard input):",
				"wharf user create NAME --email ADDRESS --data-dir '/srv/my wharf' && wharf user admin NAME --data-dir '/srv/my wharf'",
				"Install with pip:   pip install --index-url https://pypi.example.org/simple/ NAME",
			},
			absent: []string{"db-secret", "mail-secret", "--trusted-host"},
		},
		{
			name: "files in S3",
			env: map[string]string{"WHARF_DATA_DIR": "/srv/w",
				"WHARF_STORAGE_URL": "s3://AK:s3-secret@pypi-files?endpoint=https://s3.example.org&prefix=files"},
			listen: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080},
			want: []string{"Data: /srv/w; files in the S3 bucket pypi-files under files/ at https://s3.example.org; " +
				"database sqlite:/srv/w/wharf.db"},
			absent: []string{"s3-secret"},
		},
		{
			name:   "another port than the base URL's",
			env:    map[string]string{"WHARF_BASE_URL": "http://localhost:9000"},
			listen: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080},
			want:   []string{"Listening on 127.0.0.1:8080 (plain HTTP): WHARF_BASE_URL says the address above leads here."},
		},
		{
			name:   "a name on the network, every address",
			env:    map[string]string{"WHARF_BASE_URL": "http://pypi.lan:8080"},
			listen: &net.TCPAddr{IP: net.IPv4zero, Port: 8080},
			want:   []string{"Install with pip:   pip install --index-url http://pypi.lan:8080/simple/ --trusted-host pypi.lan NAME"},
			absent: []string{"Listening on"},
		},
		{
			name:   "the IPv6 loopback",
			env:    map[string]string{"WHARF_LISTEN": "[::1]:8080"},
			listen: &net.TCPAddr{IP: net.IPv6loopback, Port: 8080},
			want:   []string{"wharf " + version + " is running at http://localhost:8080/"},
			absent: []string{"Listening on", "--trusted-host"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadConfig(t, tc.env, tc.listen)
			var mailer notify.Mailer
			var err error
			if tc.smtp != "" {
				mailer, err = notify.NewSMTP(tc.smtp, cfg.MailFrom)
			} else {
				mailer, err = notify.NewOutbox(filepath.Join(t.TempDir(), "outbox"), cfg.MailFrom, time.Now)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := greeting(cfg, tc.listen, mailer)
			if err != nil {
				t.Fatal(err)
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(got, "\n") {
				lines[strings.TrimSpace(l)] = true
			}
			for _, l := range tc.want {
				if !lines[l] {
					t.Errorf("no line %q in:\n%s", l, got)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(got, s) {
					t.Errorf("%q in:\n%s", s, got)
				}
			}
		})
	}
}

// ordered collects what stdout and stderr write, each apart and both in the order a terminal shows them.
type ordered struct {
	mu  sync.Mutex
	all bytes.Buffer
}

type stream struct {
	o   *ordered
	own bytes.Buffer
}

func (s *stream) Write(p []byte) (int, error) {
	s.o.mu.Lock()
	defer s.o.mu.Unlock()
	s.o.all.Write(p)
	return s.own.Write(p)
}

func (s *stream) String() string {
	s.o.mu.Lock()
	defer s.o.mu.Unlock()
	return s.own.String()
}

// TestServeGreetsFirst starts wharf serve with stdout and stderr on one terminal: the greeting comes first, whole
// and free of log records, the records follow on stderr, and the commands it shows work as printed.
func TestServeGreetsFirst(t *testing.T) {
	dir := t.TempDir()
	term := &ordered{}
	stdout, stderr := &stream{o: term}, &stream{o: term}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		e := &env{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr, getenv: func(k string) string {
			return map[string]string{"WHARF_DATA_DIR": dir, "WHARF_LISTEN": "127.0.0.1:0", "WHARF_METRICS": "false"}[k]
		}}
		done <- run(ctx, e, []string{"serve"})
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exited with %d", code)
			}
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stdout.String(), "Install with pip") {
		if time.Now().After(deadline) {
			t.Fatalf("no greeting; stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	greetingText := stdout.String()
	first, _, _ := strings.Cut(greetingText, "\n")
	m := runningAt.FindStringSubmatch(first)
	if m == nil || !strings.HasPrefix(m[1], "http://localhost:") {
		t.Fatalf("first line %q, want the base URL on localhost", first)
	}
	site := m[1]
	listen := strings.Replace(site, "localhost", "127.0.0.1", 1)

	// The greeting's address answers; a page opened on 127.0.0.1 is sent there, pip's index is not.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		url      string
		status   int
		location string
	}{
		{site + "/_/health", http.StatusOK, ""},
		{listen + "/readyz", http.StatusOK, ""},
		{listen + "/healthz", http.StatusOK, ""},
		{listen + "/account/register/", http.StatusPermanentRedirect, site + "/account/register/"},
		{listen + "/simple/", http.StatusOK, ""},
	} {
		resp, err := client.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Location") != c.location {
			t.Errorf("GET %s: %d to %q, want %d to %q", c.url, resp.StatusCode, resp.Header.Get("Location"), c.status, c.location)
		}
	}

	// The administrator's commands, as printed, with nothing else to find the data.
	var command string
	for _, l := range strings.Split(greetingText, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "wharf user create ") {
			command = l
		}
	}
	for _, c := range strings.Split(command, " && ") {
		args := strings.Fields(strings.NewReplacer("NAME", "root", "ADDRESS", "root@example.com").Replace(c))
		var out, errOut bytes.Buffer
		e := &env{stdin: strings.NewReader("a long passphrase\n"), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
		if code := run(context.Background(), e, args[1:]); code != 0 {
			t.Fatalf("%s: %d %q %q", c, code, out.String(), errOut.String())
		}
	}
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if acct, err := db.AccountByName(context.Background(), "root"); err != nil || !acct.IsAdmin {
		t.Errorf("after %q: root is %+v, %v; want an administrator", command, acct, err)
	}

	stop()
	if strings.Contains(greetingText, "{") || stdout.String() != greetingText {
		t.Errorf("stdout is not the greeting alone:\n%s", stdout.String())
	}
	term.mu.Lock()
	all := term.all.String()
	term.mu.Unlock()
	if !strings.HasPrefix(all, greetingText) {
		t.Errorf("the terminal does not start with the greeting:\n%s", all)
	}
	if logs := stderr.String(); !strings.Contains(logs, `"msg":"listening"`) || !strings.Contains(logs, `"msg":"shutting down"`) {
		t.Errorf("stderr lacks the records of the start and the stop:\n%s", logs)
	}
}

func TestHeldWriter(t *testing.T) {
	var out bytes.Buffer
	h := &heldWriter{w: &out, held: &bytes.Buffer{}}
	io.WriteString(h, "one\n")
	if out.Len() != 0 {
		t.Fatalf("wrote %q before the release", out.String())
	}
	out.WriteString("greeting\n")
	h.release()
	io.WriteString(h, "two\n")
	h.release()
	if got := out.String(); got != "greeting\none\ntwo\n" {
		t.Errorf("got %q", got)
	}
}

// TestEmptyFolder: the index's folder is empty at once when a server starts; what an earlier run left, and what a run
// stopped in the middle of removing that left, is in the one folder the server removes in the background.
func TestEmptyFolder(t *testing.T) {
	data := t.TempDir()
	dir := filepath.Join(data, "index")
	for _, name := range []string{"index/pages/ab/demo.html", "index/root-1.html", ".index.old/123/pages/cd/x.json"} {
		path := filepath.Join(data, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	leftovers, err := emptyFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("the folder after emptyFolder: %v, %v", entries, err)
	}
	var left []string
	filepath.WalkDir(leftovers, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, strings.TrimPrefix(path, leftovers))
		}
		return nil
	})
	if len(left) != 3 {
		t.Errorf("moved aside: %q, want the earlier run's two files and the one left before", left)
	}
	// A first start: no folder yet.
	if _, err := emptyFolder(filepath.Join(data, "new")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(data, "new")); err != nil || !fi.IsDir() {
		t.Fatalf("a first start: %v", err)
	}
}

// TestServePageLogSize: --page-log-size (WHARF_PAGE_LOG_SIZE) reaches the index. The fill at start keeps pages up to
// half the log: with the smallest log it keeps some of these projects' pages, not all; with the default, all.
func TestServePageLogSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const projects = 1500 // their pages, in two forms each, take 850 KB: more than the smallest log's half
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	var files []store.NewFile
	for i := range projects {
		name := fmt.Sprintf("log-size-%d", i)
		digest := fmt.Sprintf("%064x", i)
		files = append(files, store.NewFile{ProjectName: name, NormalizedName: name, UltraName: name,
			Version: "1.0", CanonicalVersion: "1.0", ReleaseMetadata: []byte(`{}`),
			Filename: strings.ReplaceAll(name, "-", "_") + "-1.0-py3-none-any.whl", PackageType: "bdist_wheel",
			PythonVersion: "py3", Size: 1000, SHA256: digest, MD5: digest[:32], Blake2b256: digest, Now: time.Unix(0, 0)})
	}
	if err := db.SeedFiles(context.Background(), files); err != nil {
		t.Fatal(err)
	}
	db.Close()

	filled := regexp.MustCompile(`"msg":"simple index: page log filled","projects":(\d+),"bytes":(\d+)`)
	fill := func(size string) (projects, bytes int) {
		stderr := &stream{o: &ordered{}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int)
		go func() {
			e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr, getenv: func(k string) string {
				return map[string]string{"WHARF_DATA_DIR": dir, "WHARF_LISTEN": "127.0.0.1:0", "WHARF_METRICS": "false",
					"WHARF_PAGE_LOG_SIZE": size}[k]
			}}
			done <- run(ctx, e, []string{"serve"})
		}()
		defer func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exited with %d: %s", code, stderr.String())
			}
		}()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if m := filled.FindStringSubmatch(stderr.String()); m != nil {
				projects, _ = strconv.Atoi(m[1])
				bytes, _ = strconv.Atoi(m[2])
				return projects, bytes
			}
			if time.Now().After(deadline) {
				t.Fatalf("WHARF_PAGE_LOG_SIZE=%q: the page log was not filled: %s", size, stderr.String())
			}
		}
	}
	// The fill stops at the first project that takes it to half the log: past it by less than a project's pages.
	if p, b := fill("1MiB"); p == 0 || p >= projects || b < 1<<19 || b > 1<<19+4096 {
		t.Errorf("with a 1 MiB log the fill kept %d projects' pages in %d bytes; want some of %d, in 512 KiB",
			p, b, projects)
	}
	if p, b := fill(""); p != projects || b <= 1<<19 {
		t.Errorf("with the default log the fill kept %d projects' pages in %d bytes; want all %d, in more than 512 KiB",
			p, b, projects)
	}
}
