// Package e2e drives the real wharf binary with the real clients a user has: pip, twine and python3-build from
// Debian, on SQLite and PostgreSQL.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"wharf/internal/blob"
	"wharf/internal/blob/s3test"
	"wharf/internal/store/storetest"
)

var wharfBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wharf-e2e-bin")
	if err != nil {
		panic(err)
	}
	wharfBin = filepath.Join(dir, "wharf")
	build := exec.Command("go", "build", "-o", wharfBin, "../cmd/wharf")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building wharf:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is one running wharf server with its data directory.
type instance struct {
	t       testing.TB
	dataDir string
	dbURL   string
	URL     string // the listening address (127.0.0.1), for the command-line clients: the index APIs answer there
	Site    string // the public URL (localhost), for the browser: WebAuthn needs a host name, and pages redirect to it
	cmd     *exec.Cmd
	logs    *syncBuffer
	exited  chan struct{}
	started chan []string // the greeting's URLs, once launch's server prints them
	// extraEnv configures the server and the commands beyond the data directory and database: WHARF_* settings.
	extraEnv []string
	bucket   blob.S3Options // where the files are, for an instance of an S3 setup
}

// newInstance prepares a data directory and a database (engine "sqlite" or "postgres") without starting.
func newInstance(t testing.TB, engine storetest.Engine) *instance {
	return &instance{t: t, dataDir: t.TempDir(), dbURL: engine.URL(t)}
}

// setup is a database engine and where the files go.
type setup struct {
	Name   string
	Engine storetest.Engine
	S3     bool // files in a bucket of a real S3 server (versitygw) instead of the data directory
}

// setups lists every engine with its files on disk, then PostgreSQL (SQLite where PostgreSQL is not available) with
// its files in S3, as several instances behind a load balancer keep them.
func setups(t testing.TB) []setup {
	var list []setup
	engines := storetest.Engines(t)
	for _, e := range engines {
		list = append(list, setup{Name: e.Name, Engine: e})
	}
	last := engines[len(engines)-1]
	return append(list, setup{Name: last.Name + "+s3", Engine: last, S3: true})
}

// newSetupInstance prepares an instance of s, with a bucket of its own when its files are in S3.
func newSetupInstance(t testing.TB, s setup) *instance {
	in := newInstance(t, s.Engine)
	if s.S3 {
		in.bucket = s3test.Start(t).Bucket(t, "files/")
		in.extraEnv = append(in.extraEnv, "WHARF_STORAGE_URL="+s3test.URL(in.bucket))
	}
	return in
}

func (in *instance) env() []string {
	return append(append(os.Environ(), "WHARF_DATA_DIR="+in.dataDir, "WHARF_DATABASE_URL="+in.dbURL), in.extraEnv...)
}

// runningRE reads the first line of the greeting of wharf serve: its one address, the base URL. With the default
// base URL it names the port the system chose; with another (a proxy's), listeningRE reads the next line, which
// names the address the server listens on.
var (
	runningRE   = regexp.MustCompile(`^wharf \S+ is running at (https?://[^/]+)/$`)
	listeningRE = regexp.MustCompile(`^  Listening on (\S+) \(plain HTTP\)`)
)

// start runs `wharf serve` on a free port and waits until it answers.
func (in *instance) start() {
	in.t.Helper()
	in.launch()
	in.awaitStart()
}

// launch runs `wharf serve` on a free port without waiting for it: several instances can start at the same moment.
func (in *instance) launch() {
	t := in.t
	t.Helper()
	in.logs = &syncBuffer{}
	cmd := exec.Command(wharfBin, "serve", "--listen", "127.0.0.1:0")
	cmd.Env = in.env()
	cmd.Stderr = in.logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.cmd, in.exited = cmd, make(chan struct{})
	urls := make(chan []string, 1)
	in.started = urls
	go func() {
		sc := bufio.NewScanner(stdout)
		site := ""
		for sc.Scan() {
			if m := runningRE.FindStringSubmatch(sc.Text()); m != nil {
				site = m[1]
				continue
			}
			if site == "" {
				continue
			}
			// Without a "Listening on" line the base URL leads to the listener: 127.0.0.1 (which start gave with
			// --listen) on the base URL's port.
			listen := "127.0.0.1:" + site[strings.LastIndex(site, ":")+1:]
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				listen = m[1]
			}
			urls <- []string{site, "http://" + listen}
			site = ""
		}
	}()
	go func() { cmd.Wait(); close(in.exited) }()
	t.Cleanup(func() { in.stop(syscall.SIGTERM) })
}

// awaitStart waits until the launched server says where it answers.
func (in *instance) awaitStart() {
	t := in.t
	t.Helper()
	select {
	case u := <-in.started:
		in.Site, in.URL = u[0], u[1]
	case <-in.exited:
		t.Fatalf("wharf serve exited at start:\n%s", in.logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("wharf serve did not start:\n%s", in.logs)
	}
}

// syncBuffer is a server's log, which the test reads while the server writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// stop sends sig and waits for the process to end.
func (in *instance) stop(sig syscall.Signal) {
	if in.cmd == nil {
		return
	}
	in.cmd.Process.Signal(sig)
	select {
	case <-in.exited:
	case <-time.After(30 * time.Second):
		in.cmd.Process.Kill()
		<-in.exited
	}
	in.cmd = nil
}

// run runs a wharf subcommand against the instance's data and returns its stdout.
func (in *instance) run(stdin string, args ...string) (string, error) {
	cmd := exec.Command(wharfBin, args...)
	cmd.Env = in.env()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("wharf %s: %w\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

func (in *instance) mustRun(stdin string, args ...string) string {
	in.t.Helper()
	out, err := in.run(stdin, args...)
	if err != nil {
		in.t.Fatal(err)
	}
	return out
}

// userWithToken creates a user and an account-wide token (or one scoped to projects).
func (in *instance) userWithToken(name string, projects ...string) string {
	in.t.Helper()
	in.mustRun("correct horse battery staple\n", "user", "create", name, "--email", name+"@example.com")
	args := []string{"token", "create", "--user", name, "--json"}
	for _, p := range projects {
		args = append(args, "--project", p)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(in.mustRun("", args...)), &tok); err != nil || !strings.HasPrefix(tok.Token, "wharf-") {
		in.t.Fatalf("token create: %v %q", err, tok.Token)
	}
	return tok.Token
}

// download gets path as pip does, following redirects (to the bucket, with redirect=true in an S3 storage URL).
func (in *instance) download(path string) (*http.Response, []byte) {
	in.t.Helper()
	return in.fetch(http.DefaultClient, path)
}

// get asks for path without following a redirect; header is name, value, ...
func (in *instance) get(path string, header ...string) (*http.Response, []byte) {
	in.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return in.fetch(client, path, header...)
}

func (in *instance) fetch(client *http.Client, path string, header ...string) (*http.Response, []byte) {
	in.t.Helper()
	req, err := http.NewRequest("GET", in.URL+path, nil)
	if err != nil {
		in.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		in.t.Fatal(err)
	}
	return resp, body
}

// tool finds a client program; without it the test fails in CI and skips elsewhere.
func tool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if storetest.Required() {
			t.Fatalf("%s is not installed (scripts/test installs it)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

// python is Debian's interpreter, with python3-build and twine beside it.
func python(t testing.TB) string {
	if p := os.Getenv("WHARF_TEST_PYTHON"); p != "" {
		return p
	}
	return tool(t, "/usr/bin/python3")
}

// sh runs a command in dir and returns its combined output.
func sh(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// shFail runs a command that must fail and returns its output.
func shFail(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("%s %s succeeded, want a failure:\n%s", name, strings.Join(args, " "), out)
	}
	return string(out)
}
