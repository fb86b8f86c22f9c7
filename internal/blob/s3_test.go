package blob_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"wharf/internal/blob"
	"wharf/internal/blob/blobtest"
	"wharf/internal/blob/s3test"
)

func newS3(t *testing.T, o blob.S3Options) *blob.S3 {
	t.Helper()
	s, err := blob.NewS3(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestS3Conformance runs the suite against a real S3 server, each store in a bucket of its own under a prefix.
func TestS3Conformance(t *testing.T) {
	srv := s3test.Start(t)
	blobtest.Run(t, func(t *testing.T) blob.Store {
		return newS3(t, srv.Bucket(t, "wharf/files"))
	})
}

// TestS3Layout: objects are named as on disk, under the prefix, and what else the bucket holds (another prefix's
// objects, names Commit could not have made) is neither listed nor reachable.
func TestS3Layout(t *testing.T) {
	srv := s3test.Start(t)
	o := srv.Bucket(t, "index-a/")
	s := newS3(t, o)
	other := o
	other.Prefix, other.StagingDir = "index-b/", t.TempDir()
	b := newS3(t, other)

	put := func(s blob.Store, content string) blob.Info {
		w, err := s.NewWriter(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		w.Write([]byte(content))
		info, err := w.Commit(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	mine := put(s, "mine")
	theirs := put(b, "theirs")

	client, err := minio.New(strings.TrimPrefix(o.Endpoint, "http://"),
		&minio.Options{Creds: credentials.NewStaticV4(o.AccessKey, o.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	k := mine.Key
	if _, err := client.StatObject(t.Context(), o.Bucket, "index-a/"+k[0:2]+"/"+k[2:4]+"/"+k, minio.StatObjectOptions{}); err != nil {
		t.Errorf("the object is not at PREFIX/k[0:2]/k[2:4]/k: %v", err)
	}
	stray := []string{
		"index-a/" + k,       // no fan-out
		"index-a/00/00/" + k, // wrong fan-out
		"index-a/" + k[0:2] + "/" + k[2:4] + "/" + strings.ToUpper(k), // not a key
		"index-a/notes.txt",
	}
	for _, name := range stray {
		if _, err := client.PutObject(t.Context(), o.Bucket, name, bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	var listed []string
	if err := s.Walk(t.Context(), func(i blob.Info) error { listed = append(listed, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{mine.Key}, listed); diff != "" {
		t.Errorf("Walk (-want +got):\n%s", diff)
	}
	if _, err := s.Stat(t.Context(), theirs.Key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("another prefix's object: Stat = %v; want ErrNotFound", err)
	}
	if _, err := b.Open(t.Context(), theirs.Key); err != nil {
		t.Errorf("its own prefix's object: %v", err)
	}
}

func TestNewS3RefusesAMissingBucket(t *testing.T) {
	srv := s3test.Start(t)
	o := srv.Bucket(t, "")
	o.Bucket = "no-such-bucket"
	if _, err := blob.NewS3(t.Context(), o); err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
		t.Errorf("NewS3 with a missing bucket: %v", err)
	}
	o = srv.Bucket(t, "")
	o.SecretKey = "wrong"
	if _, err := blob.NewS3(t.Context(), o); err == nil {
		t.Error("NewS3 with a wrong secret key succeeded")
	}
}

// TestS3Ping: the readiness check needs the server, the credentials and the bucket.
func TestS3Ping(t *testing.T) {
	srv := s3test.Start(t)
	o := srv.Bucket(t, "")
	s := newS3(t, o)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	srv.Stop()
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping succeeded with the server stopped")
	}
}

// TestS3Link: a signed link serves the object's bytes, without credentials, with the headers of a download from the
// index and the filename asked for; it names one object only.
func TestS3Link(t *testing.T) {
	srv := s3test.Start(t)
	s := newS3(t, srv.Bucket(t, "files/"))
	w, err := s.NewWriter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	content := []byte("the bytes of a wheel")
	w.Write(content)
	info, err := w.Commit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const immutable = "public, max-age=31536000, immutable"
	link, err := s.Link(t.Context(), info.Key, "demo-1.0-py3-none-any.whl", immutable, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("GET of the link: %d %q", resp.StatusCode, body)
	}
	for k, want := range map[string]string{"Cache-Control": immutable, "Content-Type": "application/octet-stream",
		"Content-Disposition": `attachment; filename=demo-1.0-py3-none-any.whl`} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	// The signature covers the object's name: a link edited to name another object is refused.
	other := strings.Replace(link, info.Key, strings.Repeat("0", 64), 1)
	resp, err = http.Get(other)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("an edited link: %d, want 403", resp.StatusCode)
	}
	if _, err := s.Link(t.Context(), "../x", "x", immutable, time.Hour); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("Link of an invalid key: %v", err)
	}
}

func TestParseS3URL(t *testing.T) {
	tests := []struct {
		url     string
		want    blob.S3Options
		wantErr string
	}{
		{url: "s3://wharf-files", want: blob.S3Options{Bucket: "wharf-files"}},
		{url: "s3://AK:SK@b?endpoint=http://127.0.0.1:9000&region=eu-west-1&prefix=pypi",
			want: blob.S3Options{Bucket: "b", Endpoint: "http://127.0.0.1:9000", Region: "eu-west-1", Prefix: "pypi/",
				AccessKey: "AK", SecretKey: "SK"}},
		{url: "s3://b?prefix=a/b/", want: blob.S3Options{Bucket: "b", Prefix: "a/b/"}},
		{url: "s3://b?redirect=true", want: blob.S3Options{Bucket: "b", Redirect: true}},
		{url: "s3://b?redirect=yes", wantErr: "redirect must be true or false"},
		{url: "s3:///nobucket", wantErr: "want s3://BUCKET"},
		{url: "s3://b/path", wantErr: "want s3://BUCKET"},
		{url: "file:/x", wantErr: "want s3://BUCKET"},
		{url: "s3://b?endpoint=127.0.0.1:9000", wantErr: "must be http://HOST[:PORT] or https://HOST[:PORT]"},
		{url: "s3://b?endpoint=https://s3.example.com/path", wantErr: "must be http://HOST[:PORT]"},
		{url: "s3://b?bucket=x", wantErr: `unknown setting "bucket"`},
		{url: "s3://AK:secret@b?regoin=x", wantErr: `"s3://AK:xxxxx@b?regoin=x"`},
	}
	for _, tt := range tests {
		got, err := blob.ParseS3URL(tt.url)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseS3URL(%q) = %+v, %v; want an error with %q", tt.url, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseS3URL(%q): %v", tt.url, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseS3URL(%q) (-want +got):\n%s", tt.url, diff)
		}
	}
}
