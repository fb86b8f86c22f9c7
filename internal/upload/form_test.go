package upload

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"wharf/internal/blob"
	"wharf/internal/disttest"
	"wharf/internal/httperror"
)

func readTestForm(t testing.TB, body []byte, contentType string, maxFile int64) (*form, error) {
	blobs, err := blob.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/legacy/", bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	return readForm(r, func() (blob.Writer, error) { return blobs.NewWriter(t.Context()) }, maxFile)
}

func TestReadForm(t *testing.T) {
	form := disttest.UploadForm("demo", "1.0", "demo-1.0.tar.gz", []byte("content bytes"))
	form.Fields = append(form.Fields, [2]string{"classifiers", "A"}, [2]string{"classifiers", "B"})
	body, ct := form.Encode()
	f, err := readTestForm(t, body, ct, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer f.file.Abort()
	if f.get("name") != "demo" || len(f.values["classifiers"]) != 2 || f.filename != "demo-1.0.tar.gz" || f.file.Size() != 13 {
		t.Errorf("form = %+v", f.values)
	}

	big, bigCT := disttest.UploadForm("demo", "1.0", "demo-1.0.tar.gz", make([]byte, 2<<20)).Encode()
	two, twoCT := twoFilesForm()
	for _, tc := range []struct {
		name        string
		body        []byte
		contentType string
		status      int
	}{
		{"not multipart", []byte("a=b"), "application/x-www-form-urlencoded", 400},
		{"no boundary", body, "multipart/form-data", 400},
		{"truncated", body[:len(body)/2], ct, 400},
		{"two files", two, twoCT, 400},
		{"file over the limit", big, bigCT, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readTestForm(t, tc.body, tc.contentType, 1<<20)
			var he *httperror.Error
			if !errors.As(err, &he) || he.Status != tc.status {
				t.Errorf("err = %v, want status %d", err, tc.status)
			}
		})
	}
}

func twoFilesForm() ([]byte, string) {
	a, ct := disttest.UploadForm("demo", "1.0", "demo-1.0.tar.gz", []byte("x")).Encode()
	boundary := ct[strings.Index(ct, "boundary=")+len("boundary="):]
	part := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"content\"; filename=\"b.tar.gz\"\r\n\r\ny\r\n"
	closing := "--" + boundary + "--"
	i := bytes.LastIndex(a, []byte(closing))
	return append(append(append([]byte{}, a[:i]...), part...), a[i:]...), ct
}

// FuzzReadForm: whatever the body, the reader returns a form or a client error, never panics, and leaves no
// staged file behind on failure.
func FuzzReadForm(f *testing.F) {
	body, ct := disttest.UploadForm("demo", "1.0", "demo-1.0.tar.gz", []byte("content")).Encode()
	f.Add(body, ct)
	f.Add([]byte("--x\r\nContent-Disposition: form-data; name=\"content\"; filename=\"../a\"\r\n\r\nz\r\n--x--"), "multipart/form-data; boundary=x")
	f.Add([]byte{}, "multipart/form-data; boundary=x")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		blobs, err := blob.NewDisk(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("POST", "/legacy/", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		form, err := readForm(r, func() (blob.Writer, error) { return blobs.NewWriter(t.Context()) }, 1<<16)
		if err != nil {
			var he *httperror.Error
			if !errors.As(err, &he) || he.Status < 400 || he.Status > 499 {
				t.Fatalf("error %v is not a client error", err)
			}
			leftovers := 0
			blobs.Staged(t.Context(), func(string, int64, time.Time) error { leftovers++; return nil })
			if leftovers != 0 {
				t.Fatalf("a refused form left %d staged files", leftovers)
			}
			return
		}
		if form.file != nil {
			form.file.Abort()
		}
	})
}
