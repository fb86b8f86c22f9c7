package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"wharf/internal/blob/s3test"
	"wharf/internal/disttest"
	"wharf/internal/store/storetest"
)

// TestCluster runs wharf as a company outgrowing one machine does: three instances on one PostgreSQL database,
// one S3 bucket and one Redis, behind no balancer (the test talks to each). They start at the same moment, so
// they also migrate and claim the day's jobs at once.
func TestCluster(t *testing.T) {
	engines := storetest.Engines(t)
	if len(engines) < 2 {
		t.Skip("the cluster runs on PostgreSQL: set WHARF_TEST_POSTGRES")
	}
	dbURL := engines[1].URL(t)
	bucket := s3test.Start(t).Bucket(t, "files/")
	suffix := make([]byte, 4)
	rand.Read(suffix)
	// A name of this run's own: Redis is shared with other runs, and it keeps the counters of failed sign-ins.
	user := "carol-" + hex.EncodeToString(suffix)
	const password = "correct horse battery staple"
	// One secret key for all: a token or a session signed by one instance is checked by another.
	env := []string{"WHARF_SECRET_KEY=" + hex.EncodeToString(suffix) + strings.Repeat("k", 32),
		"WHARF_STORAGE_URL=" + s3test.URL(bucket), "WHARF_REDIS_URL=redis://127.0.0.1:6379/0",
		"WHARF_RATE_LIMITS=login-account=3/5m,login-ip=10000/5m,login-global=10000/5m"}
	var ins []*instance
	for range 3 {
		in := &instance{t: t, dataDir: t.TempDir(), dbURL: dbURL, extraEnv: env, bucket: bucket}
		ins = append(ins, in)
	}
	for _, in := range ins {
		in.launch()
	}
	for _, in := range ins {
		in.awaitStart()
	}

	// The day's critical recompute runs on one instance only.
	waitUntil(t, "an instance to run the day's critical recompute", 30*time.Second, func() bool {
		return recomputes(ins) >= 1
	})

	token := ins[0].userWithToken(user)
	const project = "cluster-demo"
	if code := uploadWheel(t, ins[0], token, project, "1.0"); code != http.StatusOK {
		t.Fatalf("first upload: %d", code)
	}
	// Both other instances read and cache the page before the next upload.
	for _, in := range ins[1:] {
		if _, body := in.get("/simple/" + project + "/"); !strings.Contains(string(body), "1.0") {
			t.Fatalf("instance %s does not list 1.0: %s", in.URL, body)
		}
	}
	if code := uploadWheel(t, ins[0], token, project, "2.0"); code != http.StatusOK {
		t.Fatalf("second upload: %d", code)
	}
	file2 := disttest.WheelName(project, "2.0")
	for _, in := range ins[1:] {
		waitUntil(t, "the upload through the first instance on "+in.URL, time.Second, func() bool {
			_, body := in.get("/simple/" + project + "/")
			return strings.Contains(string(body), file2)
		})
	}

	// A project deleted through the second instance is gone from the others, which had its page cached.
	for _, in := range []*instance{ins[0], ins[2]} {
		if resp, _ := in.get("/simple/" + project + "/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("before the deletion: %d on %s", resp.StatusCode, in.URL)
		}
	}
	b := newBrowser(t)
	b.signIn(ins[1].Site, user, password)
	releases := ins[1].Site + "/manage/project/" + project + "/releases/"
	b.do(chromedp.Navigate(releases), chromedp.WaitReady("body"))
	if strings.Contains(b.location(), "/account/reauthenticate/") {
		b.fill("#reauth-form", map[string]string{"password": password})
		b.do(chromedp.Navigate(releases), chromedp.WaitReady("body"))
	}
	b.fill("#delete-project form", map[string]string{"confirm": project})
	for _, in := range []*instance{ins[0], ins[2]} {
		waitUntil(t, "the deletion through the second instance on "+in.URL, time.Second, func() bool {
			resp, _ := in.get("/simple/" + project + "/")
			return resp.StatusCode == http.StatusNotFound
		})
	}

	// The sign-in limiter counts in Redis: three failures spread over the three instances use up the account's
	// three, and the fourth attempt is refused wherever it goes, even with the right password.
	for i, in := range ins {
		if code := signIn(t, in, user, "wrong password"); code != http.StatusBadRequest {
			t.Fatalf("failed sign-in %d on %s: %d, want 400", i+1, in.URL, code)
		}
	}
	for _, in := range ins {
		if code := signIn(t, in, user, password); code != http.StatusTooManyRequests {
			t.Errorf("a sign-in after three failures on other instances: %d on %s, want 429", code, in.URL)
		}
	}

	// An instance killed in the middle of uploads loses none that it acknowledged: the others serve them all.
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				version := fmt.Sprintf("%d.%d", w, n)
				if uploadWheel(t, ins[2], token, "cluster-crash", version) == http.StatusOK {
					mu.Lock()
					acked = append(acked, disttest.WheelName("cluster-crash", version))
					mu.Unlock()
				}
			}
		})
	}
	waitUntil(t, "uploads through the third instance", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 10
	})
	ins[2].stop(syscall.SIGKILL)
	close(stop)
	wg.Wait()
	for _, in := range ins[:2] {
		_, body := in.get("/simple/cluster-crash/", "Accept", "application/vnd.pypi.simple.v1+json")
		var page simpleJSON
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("%s: %v %s", in.URL, err, body)
		}
		served := map[string]string{}
		for _, f := range page.Files {
			served[f.Filename] = f.URL
		}
		for _, name := range acked {
			u, ok := served[name]
			if !ok {
				t.Errorf("%s does not list the acknowledged %s", in.URL, name)
				continue
			}
			resp, file := in.get(strings.TrimPrefix(u, in.URL))
			sum := sha256.Sum256(file)
			if resp.StatusCode != http.StatusOK || !strings.Contains(u, hex.EncodeToString(sum[:])[4:]) {
				t.Errorf("%s serves %s with status %d and other bytes", in.URL, name, resp.StatusCode)
			}
		}
	}
	out, err := ins[0].run("", "fsck", "--json")
	var rep struct{ Problems []any }
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Problems) != 0 {
		t.Fatalf("fsck after the crash: %v\n%s", err, out)
	}
	t.Logf("%d uploads acknowledged before the crash", len(acked))

	if n := recomputes(ins); n != 1 {
		t.Errorf("the day's critical recompute ran on %d instances, want 1", n)
	}
}

// recomputes counts the instances that ran the day's critical recompute, from their logs.
func recomputes(ins []*instance) int {
	n := 0
	for _, in := range ins {
		if strings.Contains(in.logs.String(), `"msg":"critical projects recomputed"`) {
			n++
		}
	}
	return n
}

// uploadWheel uploads a small wheel of project at version with the legacy API and returns the status; 0 when the
// request got no answer (the server died under it).
func uploadWheel(t *testing.T, in *instance, token, project, version string) int {
	wheel := disttest.Wheel(project, version, disttest.Metadata(project, version), nil)
	body, ct := disttest.UploadForm(project, version, disttest.WheelName(project, version), wheel).Encode()
	req, err := http.NewRequest("POST", in.URL+"/legacy/", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0
	}
	req.Header.Set("Content-Type", ct)
	req.SetBasicAuth("__token__", token)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// signIn posts the sign-in form as a browser would, without following its redirect, and returns the status.
func signIn(t *testing.T, in *instance, user, password string) int {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(in.Site+"/account/login/", url.Values{"username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitUntil waits for cond, which the servers make true, for at most limit.
func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
	}
}
