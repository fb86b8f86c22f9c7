package e2e

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"wharf/internal/disttest"
	"wharf/internal/store/storetest"
)

// TestBehindCaddy runs deploy/Caddyfile, as committed, in the real Caddy in front of two instances that share a
// database, a file store and a secret key. The test changes only what a machine without a public name needs: the
// site's address, the upstreams' addresses, and a certificate from Caddy's own authority instead of Let's Encrypt.
// Through the proxy, over TLS: /metrics is refused, a sign-in sets the __Host- session cookie that either instance
// honours, twine uploads and pip installs, and with one instance stopped every request still succeeds.
func TestBehindCaddy(t *testing.T) {
	t.Parallel()
	caddy := tool(t, "caddy")
	twine := tool(t, "/usr/bin/twine")
	py := python(t)

	port := freePort(t)
	site := "https://localhost:" + strconv.Itoa(port)
	engines := storetest.Engines(t)
	dbURL := engines[len(engines)-1].URL(t)
	key := make([]byte, 32)
	rand.Read(key)
	env := []string{"WHARF_BASE_URL=" + site, "WHARF_SECRET_KEY=" + hex.EncodeToString(key),
		"WHARF_STORAGE_URL=file:" + t.TempDir()}
	var ins []*instance
	for range 2 {
		in := &instance{t: t, dataDir: t.TempDir(), dbURL: dbURL, extraEnv: env}
		// One after the other: the second finds the database migrated.
		in.start()
		if in.Site != site {
			t.Fatalf("the instance says it runs at %s, want %s", in.Site, site)
		}
		ins = append(ins, in)
	}

	storage := t.TempDir()
	config := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(config, []byte(proxyConfig(t, site, storage, ins)), 0o600); err != nil {
		t.Fatal(err)
	}
	client, root := startCaddy(t, caddy, config, storage, site)

	// /metrics stays off the internet, though the instances serve it.
	if resp, _ := ins[0].get("/metrics"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics on the instance itself: %d", resp.StatusCode)
	}
	if resp := proxyGet(t, client, site+"/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics through the proxy: %d, want 404", resp.StatusCode)
	}
	for _, path := range []string{"/metrics?name[]=go_goroutines", "/%6detrics", "//metrics", "/./metrics", "/metrics/"} {
		if resp := proxyGet(t, client, site+path); resp.StatusCode == http.StatusOK {
			t.Errorf("%s through the proxy: %d, want a refusal", path, resp.StatusCode)
		}
	}

	// A sign-in sets the __Host- cookie, and the session it names works on whichever instance the proxy picks.
	const user, password = "dora", "correct horse battery staple"
	token := ins[0].userWithToken(user)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Transport: client.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.PostForm(site+"/account/login/", url.Values{"username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in through the proxy: %d", resp.StatusCode)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "__Host-") {
			session = c
		}
	}
	if session == nil || !session.Secure || session.Path != "/" || session.Domain != "" || !session.HttpOnly {
		t.Fatalf("sign-in through the proxy set %q, want a __Host- cookie, Secure, HttpOnly, Path=/, no Domain",
			resp.Header.Values("Set-Cookie"))
	}
	for range 4 {
		resp, err := browser.Get(site + "/manage/account/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the account page with the session: %d (to %q)", resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	// twine uploads through the proxy, pip installs back through it; both trust Caddy's authority.
	const project = "proxy-demo"
	work := t.TempDir()
	wheel := filepath.Join(work, disttest.WheelName(project, "1.0"))
	if err := os.WriteFile(wheel, disttest.Wheel(project, "1.0", disttest.Metadata(project, "1.0"), nil), 0o644); err != nil {
		t.Fatal(err)
	}
	// requests lets these variables win over a client's --cert: a machine that sets them for its own authorities
	// would otherwise send the clients to the wrong one.
	trust := []string{"REQUESTS_CA_BUNDLE=" + root, "CURL_CA_BUNDLE=" + root}
	sh(t, work, trust, twine, "upload", "--non-interactive", "--disable-progress-bar", "--cert", root,
		"--repository-url", site+"/legacy/", "-u", "__token__", "-p", token, wheel)
	for _, in := range ins {
		waitUntil(t, "the upload on "+in.URL, 10*time.Second, func() bool {
			_, body := in.get("/simple/" + project + "/")
			return strings.Contains(string(body), filepath.Base(wheel))
		})
	}
	target := t.TempDir()
	sh(t, work, append(trust, "PIP_NO_CACHE_DIR=1", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_CONFIG_FILE=/dev/null"),
		py, "-m", "pip", "install", "--no-deps", "--target", target, "--cert", root, "--index-url", site+"/simple/", project)
	if got := sh(t, target, nil, py, "-c", "import proxy_demo; print(proxy_demo.VALUE)"); strings.TrimSpace(got) != "1" {
		t.Errorf("the installed module says %q", got)
	}

	// With one instance gone, the proxy sends every request to the other: the one that met a refused connection is
	// retried there, and the instance is left out from then on.
	ins[1].stop(syscall.SIGTERM)
	for i := range 20 {
		resp := proxyGet(t, client, site+"/simple/"+project+"/")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d with one instance stopped: %d", i+1, resp.StatusCode)
		}
	}
}

// proxyConfig is deploy/Caddyfile for this machine: site is the address, the instances are the upstreams, and
// certificates come from Caddy's local authority, kept in storage. A global block keeps Caddy off the machine's
// own state: no admin endpoint, no port 80, no change to the system's trusted certificates.
func proxyConfig(t *testing.T, site, storage string, ins []*instance) string {
	b, err := os.ReadFile("../deploy/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	var upstreams []string
	for _, in := range ins {
		upstreams = append(upstreams, strings.TrimPrefix(in.URL, "http://"))
	}
	replace := func(text string, re *regexp.Regexp, with string) string {
		if n := len(re.FindAllString(text, -1)); n != 1 {
			t.Fatalf("deploy/Caddyfile has %d lines matching %s, want 1", n, re)
		}
		return re.ReplaceAllLiteralString(text, with)
	}
	text := replace(string(b), regexp.MustCompile(`(?m)^[^\s#{][^\n]*\{$`), site+" {\n\ttls internal")
	text = replace(text, regexp.MustCompile(`(?m)^\treverse_proxy [^{\n]*\{$`), "\treverse_proxy "+strings.Join(upstreams, " ")+" {")
	global := fmt.Sprintf("{\n\tadmin off\n\tauto_https disable_redirects\n\tskip_install_trust\n\tstorage file_system %q\n"+
		"\tservers {\n\t\tprotocols h1 h2\n\t}\n}\n\n", storage)
	return global + text
}

// startCaddy runs Caddy with config until the test ends, with a home and data folders of its own, and returns a
// client that trusts its authority, and the path of that authority's certificate, once Caddy answers at site.
func startCaddy(t *testing.T, caddy, config, storage, site string) (*http.Client, string) {
	home := t.TempDir()
	logs := &syncBuffer{}
	cmd := exec.Command(caddy, "run", "--config", config, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	running := func() {
		select {
		case <-exited:
			t.Fatalf("caddy exited:\n%s", logs)
		default:
		}
	}

	root := filepath.Join(storage, "pki", "authorities", "local", "root.crt")
	pool := x509.NewCertPool()
	waitUntil(t, "Caddy's local authority", 30*time.Second, func() bool {
		running()
		pem, err := os.ReadFile(root)
		return err == nil && pool.AppendCertsFromPEM(pem)
	})
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: pool}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		running()
		resp, err := client.Get(site + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return client, root
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not answer at %s: %s\n%s", site, last, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func proxyGet(t *testing.T, client *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// freePort is a TCP port free on every address at the moment, for a server that must be named before it starts.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
