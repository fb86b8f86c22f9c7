// Package s3test runs a real S3-compatible server for tests: versitygw, serving a temporary directory, one process
// per test that asks. The test command installs it (scripts/test); WHARF_TEST_VERSITYGW names the binary, else it
// is looked up on PATH.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"wharf/internal/blob"
)

// Server is a running versitygw.
type Server struct {
	Endpoint             string // http://127.0.0.1:PORT
	AccessKey, SecretKey string
	client               *minio.Client
	cmd                  *exec.Cmd
}

// Start starts a server for t, stopped when t ends. Without the binary it skips t, or fails it when
// WHARF_TEST_REQUIRE says every test must run.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv("WHARF_TEST_VERSITYGW")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("versitygw"); err != nil {
			if os.Getenv("WHARF_TEST_REQUIRE") == "1" {
				t.Fatal("no versitygw (WHARF_TEST_VERSITYGW or PATH) but WHARF_TEST_REQUIRE=1: S3 tests must run")
			}
			t.Skip("no versitygw: set WHARF_TEST_VERSITYGW or run scripts/test, which installs it")
		}
	}
	addr := freeAddr(t)
	s := &Server{Endpoint: "http://" + addr, AccessKey: randomHex(10), SecretKey: randomHex(20)}
	cmd := exec.Command(bin, "--port", addr, "--access", s.AccessKey, "--secret", s.SecretKey, "--quiet",
		"posix", "--nometa", t.TempDir())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	s.cmd = cmd
	t.Cleanup(s.Stop)
	client, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	s.client = client
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := client.ListBuckets(context.Background())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw at %s did not answer: %v\n%s", addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// Stop ends the server, as an outage would; it is idempotent.
func (s *Server) Stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// Bucket creates a new bucket and returns the options of a store in it, under prefix, staging in a temporary
// directory of t's.
func (s *Server) Bucket(t testing.TB, prefix string) blob.S3Options {
	t.Helper()
	name := "wharf-" + randomHex(6)
	if err := s.client.MakeBucket(t.Context(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	return blob.S3Options{Endpoint: s.Endpoint, Bucket: name, Prefix: prefix, AccessKey: s.AccessKey,
		SecretKey: s.SecretKey, StagingDir: t.TempDir()}
}

// URL is the storage URL of o, as WHARF_STORAGE_URL takes it.
func URL(o blob.S3Options) string {
	u := "s3://" + o.AccessKey + ":" + o.SecretKey + "@" + o.Bucket + "?endpoint=" + o.Endpoint
	if o.Prefix != "" {
		u += "&prefix=" + o.Prefix
	}
	return u
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
