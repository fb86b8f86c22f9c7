package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"wharf/internal/disttest"
	"wharf/internal/store/storetest"
)

// TestShutdownFinishesUpload: SIGTERM arrives while an upload's body is still on its way. The server stops taking
// connections at once, reads the rest of the body, acknowledges the upload and exits with status 0; started again
// on the same data, it serves the file with its exact bytes.
func TestShutdownFinishesUpload(t *testing.T) {
	t.Parallel()
	in := newInstance(t, storetest.Engine{Name: "sqlite", URL: storetest.SQLiteURL})
	in.start()
	token := in.userWithToken("sam")
	up := beginUpload(t, in, token, "drain-demo")

	in.cmd.Process.Signal(syscall.SIGTERM)
	waitUntil(t, "the server to begin shutting down", 10*time.Second, func() bool {
		return strings.Contains(in.logs.String(), `"msg":"shutting down"`)
	})
	addr := strings.TrimPrefix(in.URL, "http://")
	waitUntil(t, "new connections to be refused", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	select {
	case <-in.exited:
		t.Fatalf("the server exited with the upload in flight:\n%s", in.logs)
	default:
	}

	resp, body := up.finish(t)
	if resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the upload in flight at SIGTERM: %v %s\n%s", resp, body, in.logs)
	}
	if !resp.Close {
		t.Error("the answer to the upload does not say Connection: close, though the server is stopping")
	}
	if code := awaitExit(t, in); code != 0 {
		t.Fatalf("wharf serve exited with status %d after the upload:\n%s", code, in.logs)
	}

	in.start()
	_, page := in.get("/simple/drain-demo/", "Accept", "application/vnd.pypi.simple.v1+json")
	var index simpleJSON
	if err := json.Unmarshal(page, &index); err != nil || len(index.Files) != 1 || index.Files[0].Filename != up.filename {
		t.Fatalf("after the restart the project lists %s (%v), want %s", page, err, up.filename)
	}
	dl, file := in.download(strings.TrimPrefix(index.Files[0].URL, in.URL))
	if sum := sha256.Sum256(file); dl.StatusCode != http.StatusOK || hex.EncodeToString(sum[:]) != up.sha256 {
		t.Fatalf("the download after the restart: %d, sha256 %x, want %s", dl.StatusCode, sum, up.sha256)
	}
	if rep := fsck(t, in); rep.Files != 1 || len(rep.Unreferenced)+len(rep.Staged) != 0 {
		t.Errorf("fsck after the restart: %+v", rep)
	}
}

// TestShutdownTimeoutCutsUpload: an upload whose body is still incomplete when WHARF_SHUTDOWN_TIMEOUT passes is cut
// off. It is not acknowledged, the server exits with a failure that says so, and the upload leaves nothing behind:
// no file, no object, no staged leftover.
func TestShutdownTimeoutCutsUpload(t *testing.T) {
	t.Parallel()
	in := newInstance(t, storetest.Engine{Name: "sqlite", URL: storetest.SQLiteURL})
	in.extraEnv = append(in.extraEnv, "WHARF_SHUTDOWN_TIMEOUT=1s")
	in.start()
	token := in.userWithToken("sam")
	up := beginUpload(t, in, token, "cut-demo")

	in.cmd.Process.Signal(syscall.SIGTERM)
	code := awaitExit(t, in)
	if resp, body := up.finish(t); resp != nil {
		t.Fatalf("the upload cut off by the shutdown timeout was answered: %s %s", resp.Status, body)
	}
	// A stop that had to cut requests off is not a clean one: the supervisor hears of it.
	if code == 0 || !strings.Contains(in.logs.String(), "were cut off") {
		t.Errorf("exit status %d, want a failure that says requests were cut off:\n%s", code, in.logs)
	}

	in.start()
	if resp, _ := in.get("/simple/cut-demo/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after the restart /simple/cut-demo/ answers %d, want 404", resp.StatusCode)
	}
	if rep := fsck(t, in); rep.Files != 0 || len(rep.Unreferenced)+len(rep.Staged) != 0 {
		t.Errorf("fsck after the cut-off upload: %+v", rep)
	}
}

// slowUpload is an upload of a wheel over a connection of its own, whose body is sent in two parts.
type slowUpload struct {
	conn             net.Conn
	rest             []byte
	filename, sha256 string
}

// beginUpload sends the request's head, its fields and half of the file, and returns once the server has staged
// part of the file: it is then surely inside the upload's handler, reading the body.
func beginUpload(t *testing.T, in *instance, token, project string) *slowUpload {
	t.Helper()
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	module := strings.ReplaceAll(project, "-", "_")
	wheel := disttest.Wheel(project, "1.0", disttest.Metadata(project, "1.0"), map[string][]byte{module + "/data.bin": payload})
	filename := disttest.WheelName(project, "1.0")
	body, contentType := disttest.UploadForm(project, "1.0", filename, wheel).Encode()
	cut := bytes.Index(body, wheel) + len(wheel)/2

	addr := strings.TrimPrefix(in.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := fmt.Sprintf("POST /legacy/ HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nAuthorization: Basic %s\r\n\r\n",
		addr, contentType, len(body), base64.StdEncoding.EncodeToString([]byte("__token__:"+token)))
	if _, err := conn.Write(append([]byte(head), body[:cut]...)); err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(in.dataDir, "files", "staging")
	waitUntil(t, "the server to stage the first half of the file", 30*time.Second, func() bool {
		entries, _ := os.ReadDir(staging)
		for _, e := range entries {
			if info, err := e.Info(); err == nil && info.Size() > 0 {
				return true
			}
		}
		return false
	})
	sum := sha256.Sum256(wheel)
	return &slowUpload{conn: conn, rest: body[cut:], filename: filename, sha256: hex.EncodeToString(sum[:])}
}

// finish sends the rest of the body and reads the answer; a nil response when the server closed the connection
// without one.
func (u *slowUpload) finish(t *testing.T) (*http.Response, string) {
	t.Helper()
	u.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := u.conn.Write(u.rest); err != nil {
		return nil, err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(u.conn), nil)
	if err != nil {
		return nil, err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.String()
}

// awaitExit waits for the server to exit on its own and returns its exit status.
func awaitExit(t *testing.T, in *instance) int {
	t.Helper()
	select {
	case <-in.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("wharf serve did not exit:\n%s", in.logs)
	}
	code := in.cmd.ProcessState.ExitCode()
	in.cmd = nil
	return code
}

type fsckReport struct {
	Files        int
	Problems     []any
	Unreferenced []string
	Staged       []string
}

// fsck runs wharf fsck, which must find no problem, and returns its report.
func fsck(t *testing.T, in *instance) fsckReport {
	t.Helper()
	out, err := in.run("", "fsck", "--json")
	var rep fsckReport
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Problems) != 0 {
		t.Fatalf("fsck: %v\n%s", err, out)
	}
	return rep
}
