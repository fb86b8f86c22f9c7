package pages

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/pypkg"
)

func TestVersionOrder(t *testing.T) {
	plain := []string{"0.9", "1", "1.0.0", "1.0.1", "1.2", "1.9", "1.10", "01.11", "2", "10.0", "99999999999.0"}
	for i := range plain {
		if !isPlainRelease(plain[i]) {
			t.Errorf("%q is plain", plain[i])
		}
		for j := range plain {
			a, errA := pypkg.ParseVersion(plain[i])
			b, errB := pypkg.ParseVersion(plain[j])
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			if got, want := comparePlain(plain[i], plain[j]), a.Compare(b); got != want {
				t.Errorf("comparePlain(%s, %s) = %d, PEP 440 says %d", plain[i], plain[j], got, want)
			}
		}
	}
	for _, v := range []string{"", ".1", "1.", "1..2", "1.0rc1", "v1", "1!2", "1.0+local", "1.0.post1"} {
		if isPlainRelease(v) {
			t.Errorf("%q is not plain", v)
		}
	}
	// One version beyond plain numbers sorts every version by PEP 440; unparsable ones come first.
	versions := []string{"1.10", "1.10rc1", "1.9", "not a version", "1.10.post1"}
	var got []string
	for _, i := range Order(len(versions), func(i int) string { return versions[i] }) {
		got = append(got, versions[i])
	}
	if diff := cmp.Diff([]string{"not a version", "1.9", "1.10rc1", "1.10", "1.10.post1"}, got); diff != "" {
		t.Errorf("mixed order (-want +got):\n%s", diff)
	}
}

// TestRender: files in version and then filename order in both forms, and the compressed forms hold the plain ones.
func TestRender(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := Project{Name: "demo", Serial: 42,
		Releases: []Release{{ID: 1, Version: "1.10"}, {ID: 2, Version: "1.9"}},
		Files: []File{
			{ReleaseID: 1, Filename: "demo-1.10.tar.gz", SHA256: strings.Repeat("a", 64), UploadedAt: t0},
			{ReleaseID: 2, Filename: "demo-1.9.tar.gz", SHA256: strings.Repeat("b", 64), UploadedAt: t0,
				Yanked: true, YankedReason: `"bad" <b>`},
			{ReleaseID: 1, Filename: "demo-1.10-py3-none-any.whl", SHA256: strings.Repeat("c", 64), UploadedAt: t0,
				MetadataSHA256: strings.Repeat("d", 64), RequiresPython: ">=3.9"},
		}}
	s := Render(p)
	html := string(s[HTML])
	order := []string{"demo-1.9.tar.gz", "demo-1.10-py3-none-any.whl", "demo-1.10.tar.gz"}
	last := -1
	for _, name := range order {
		i := strings.Index(html, ">"+name+"</a>")
		if i <= last {
			t.Fatalf("%s out of order in\n%s", name, html)
		}
		last = i
	}
	for _, want := range []string{`data-yanked="&#34;bad&#34; &lt;b&gt;"`, `data-requires-python="&gt;=3.9"`,
		`data-core-metadata="sha256=` + strings.Repeat("d", 64), "<!--SERIAL 42-->"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %s", want)
		}
	}
	var doc struct {
		Meta     map[string]any `json:"meta"`
		Versions []string       `json:"versions"`
		Files    []struct {
			Filename string `json:"filename"`
			Yanked   any    `json:"yanked"`
		} `json:"files"`
	}
	if err := json.Unmarshal(s[JSON], &doc); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1.9", "1.10"}, doc.Versions); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	var names []string
	for _, f := range doc.Files {
		names = append(names, f.Filename)
	}
	if diff := cmp.Diff(order, names); diff != "" {
		t.Errorf("JSON file order (-want +got):\n%s", diff)
	}
	if doc.Files[0].Yanked != `"bad" <b>` || doc.Files[1].Yanked != false || doc.Meta["_last-serial"] != 42.0 {
		t.Errorf("yanked %v, %v; meta %v", doc.Files[0].Yanked, doc.Files[1].Yanked, doc.Meta)
	}
	for _, k := range []Kind{HTML, JSON} {
		if got := gunzip(t, s[k+1]); !bytes.Equal(got, s[k]) {
			t.Errorf("form %d: the compressed form is not the plain one", k)
		}
	}
}

// TestRoot writes a root through every form and reads it back.
func TestRoot(t *testing.T) {
	var bufs [NumKinds]bytes.Buffer
	var dst [NumKinds]io.Writer
	for k := range bufs {
		dst[k] = &bufs[k]
	}
	r, err := NewRoot(dst, 7, 5)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"a-b", "odd\"name", "z"}
	for _, n := range names {
		r.Add(n)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	html := bufs[HTML].String()
	for _, want := range []string{`<a href="/simple/a-b/">a-b</a>`, `<a href="/simple/odd%22name/">odd&#34;name</a>`,
		"<!--SERIAL 7-->"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %s:\n%s", want, html)
		}
	}
	var doc struct {
		Meta     map[string]any      `json:"meta"`
		Projects []map[string]string `json:"projects"`
	}
	if err := json.Unmarshal(bufs[JSON].Bytes(), &doc); err != nil {
		t.Fatalf("%v in %s", err, bufs[JSON].String())
	}
	var got []string
	for _, p := range doc.Projects {
		got = append(got, p["name"])
	}
	if !slices.Equal(got, names) || doc.Meta["_last-serial"] != 7.0 {
		t.Errorf("JSON root: %v, meta %v", got, doc.Meta)
	}
	for _, k := range []Kind{HTML, JSON} {
		if got := gunzip(t, bufs[k+1].Bytes()); !bytes.Equal(got, bufs[k].Bytes()) {
			t.Errorf("form %d: the compressed form is not the plain one", k)
		}
	}
}

// TestGunzip reads back every size around the buffer's edges, a stream whose size field lies, and a corrupt one.
func TestGunzip(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 513, 4096, 100000} {
		plain := bytes.Repeat([]byte("wharf "), n)[:n]
		gz := Compress(plain, gzip.DefaultCompression)
		got, err := Gunzip(gz)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%d bytes: %d back, %v", n, len(got), err)
		}
		if n > 0 && cap(got) != n {
			t.Errorf("%d bytes in a slice of capacity %d", n, cap(got))
		}
	}
	plain := bytes.Repeat([]byte("x"), 1000)
	gz := Compress(plain, gzip.DefaultCompression)
	// A size field that disagrees with the body fails the reader's own check.
	short := slices.Clone(gz)
	copy(short[len(short)-4:], []byte{10, 0, 0, 0})
	if _, err := Gunzip(short); err == nil {
		t.Error("a stream whose size field disagrees with its body was accepted")
	}
	corrupt := slices.Clone(gz)
	corrupt[len(corrupt)-6] ^= 0xff
	if _, err := Gunzip(corrupt); err == nil {
		t.Error("a stream with a wrong CRC was accepted")
	}
	if _, err := Gunzip([]byte("not gzip")); err == nil {
		t.Error("bytes that are not gzip were accepted")
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestKindOf: a form's kind tells back what the client asked for.
func TestKindOf(t *testing.T) {
	seen := map[Kind]bool{}
	for _, json := range []bool{false, true} {
		for _, gzip := range []bool{false, true} {
			k := KindOf(json, gzip)
			if k.JSON() != json || k.Gzip() != gzip || k >= NumKinds || seen[k] {
				t.Errorf("KindOf(%v, %v) = %d: JSON %v, gzip %v", json, gzip, k, k.JSON(), k.Gzip())
			}
			seen[k] = true
		}
	}
}
