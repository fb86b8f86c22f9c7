package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"wharf/internal/disttest"
)

type acked struct {
	project, filename, sha256 string
}

// TestCrashDuringUploads is F1: the server is killed with SIGKILL in the middle of concurrent uploads, several
// times. After each crash fsck must pass, and after a restart every upload that was acknowledged is served with its
// exact bytes.
func TestCrashDuringUploads(t *testing.T) {
	for _, setup := range setups(t) {
		t.Run(setup.Name, func(t *testing.T) {
			in := newSetupInstance(t, setup)
			in.start()
			token := in.userWithToken("crash")
			var mu sync.Mutex
			var done []acked
			seq := 0
			for round := range 3 {
				if round > 0 {
					in.start()
				}
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for w := range 6 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						client := &http.Client{Timeout: 20 * time.Second}
						for {
							select {
							case <-stop:
								return
							default:
							}
							mu.Lock()
							seq++
							n := seq
							mu.Unlock()
							project := fmt.Sprintf("crash-%d", w)
							version := fmt.Sprintf("%d.%d", round, n)
							payload := make([]byte, 128<<10)
							rand.Read(payload)
							wheel := disttest.Wheel(project, version, disttest.Metadata(project, version),
								map[string][]byte{"crash_x/data.bin": payload})
							filename := disttest.WheelName(project, version)
							body, ct := disttest.UploadForm(project, version, filename, wheel).Encode()
							req, _ := http.NewRequest("POST", in.URL+"/legacy/", bytes.NewReader(body))
							req.Header.Set("Content-Type", ct)
							req.SetBasicAuth("__token__", token)
							resp, err := client.Do(req)
							if err != nil {
								continue // the server died under this request: not acknowledged
							}
							resp.Body.Close()
							if resp.StatusCode == 200 {
								sum := sha256.Sum256(wheel)
								mu.Lock()
								done = append(done, acked{project, filename, hex.EncodeToString(sum[:])})
								mu.Unlock()
							}
						}
					}()
				}
				// Kill once this round has had some uploads acknowledged, then a little later, so that the kill lands
				// among uploads in flight: a fixed delay proves nothing on a loaded machine where none finish in time.
				mu.Lock()
				want := len(done) + 4
				mu.Unlock()
				for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					mu.Lock()
					n := len(done)
					mu.Unlock()
					if n >= want {
						break
					}
				}
				time.Sleep(time.Duration(150+round*100) * time.Millisecond)
				in.stop(syscall.SIGKILL)
				close(stop)
				wg.Wait()

				out, err := in.run("", "fsck", "--json")
				if err != nil {
					t.Fatalf("fsck after crash %d: %v\n%s", round, err, out)
				}
				var rep struct {
					Files        int
					Problems     []any
					Unreferenced []string
					Staged       []string
				}
				if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Problems) != 0 {
					t.Fatalf("fsck after crash %d: %v %s", round, err, out)
				}
				t.Logf("crash %d: %d acknowledged so far, %d file rows, %d unreferenced objects, %d staged leftovers",
					round, len(done), rep.Files, len(rep.Unreferenced), len(rep.Staged))
			}
			if len(done) < 10 {
				t.Fatalf("only %d uploads were acknowledged before the crashes; the test proves little", len(done))
			}

			in.start()
			pages := map[string]map[string]string{}
			for _, a := range done {
				files, ok := pages[a.project]
				if !ok {
					_, body := in.get("/simple/"+a.project+"/", "Accept", "application/vnd.pypi.simple.v1+json")
					var page simpleJSON
					if err := json.Unmarshal(body, &page); err != nil {
						t.Fatalf("%s: %v %s", a.project, err, body)
					}
					files = map[string]string{}
					for _, f := range page.Files {
						files[f.Filename] = f.Hashes["sha256"] + " " + f.URL
					}
					pages[a.project] = files
				}
				entry, ok := files[a.filename]
				if !ok || entry[:64] != a.sha256 {
					t.Errorf("acknowledged upload %s is not served (entry %q)", a.filename, entry)
					continue
				}
			}
			// Spot-check the bytes of a few acknowledged files.
			for i, a := range done {
				if i%7 != 0 {
					continue
				}
				url := pages[a.project][a.filename][65:]
				resp, body := in.get(strings.TrimPrefix(url, in.URL))
				if sum := sha256.Sum256(body); resp.StatusCode != 200 || hex.EncodeToString(sum[:]) != a.sha256 {
					t.Errorf("%s: status %d, served bytes do not hash to %s", a.filename, resp.StatusCode, a.sha256)
				}
			}
		})
	}
}
