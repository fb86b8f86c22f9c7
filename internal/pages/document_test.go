package pages

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestAppendJSONString holds the hand-written string encoder to encoding/json's output, which clients parse.
func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `"q" \ /`, "\x00\x01\b\f\n\r\t\x1f\x7f", "<b>&amp;</b>", "é ü 日本",
		"\u2028\u2029", "bad \xff utf-8 \xe2\x82", "emoji 🐍"} {
		if got, want := string(appendJSONString(nil, s)), string(AppendJSON(nil, s)); got != want {
			t.Errorf("%q: %s, encoding/json writes %s", s, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("a\"b\\c\n\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendJSONString(nil, s), AppendJSON(nil, s); !bytes.Equal(got, want) {
			t.Errorf("%q: %s, encoding/json writes %s", s, got, want)
		}
	})
}

// metadata110 is release 1.10's, with keys that must not override the document's own: an uploader cannot make a
// project look fully protected (docs/security.md, M4).
const metadata110 = `{"summary": "A demo \u2028 <b>", "name": "Evil", "version": "9", "classifiers": ["A :: B"],
	"author": null, "unknown": 1, "fully_protected": true, "critical": false, "package_url": "https://evil.example/"}`

func documentProject() Project {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	file := func(release int64, name string, c string) File {
		return File{ReleaseID: release, Filename: name, PackageType: "bdist_wheel", PythonVersion: "py3",
			SHA256: strings.Repeat(c, 64), MD5: strings.Repeat(c, 32), Blake2b256: strings.Repeat("f", 64),
			Size: 1234, UploadedAt: t0}
	}
	sdist := file(2, "Demo-1.9.tar.gz", "b")
	sdist.PackageType, sdist.PythonVersion, sdist.RequiresPython = "sdist", "source", ">=3.8"
	sdist.Yanked, sdist.YankedReason = true, `"bad"` // a file carries its release's yank
	return Project{Name: "demo", DisplayName: "Demo", Serial: 42,
		Releases: []Release{
			{ID: 1, Version: "1.10", RequiresPython: ">=3.9"},
			{ID: 2, Version: "1.9", Yanked: true, YankedReason: `"bad"`},
			{ID: 3, Version: "2.0rc1"},
		},
		Files: []File{file(1, "demo-1.10-py3-none-any.whl", "a"), sdist, file(3, "demo-2.0rc1-py3-none-any.whl", "c")},
	}
}

// TestDocuments reads the filled documents back as a client does and compares them with the fields PyPI's JSON API
// has, written here by hand.
func TestDocuments(t *testing.T) {
	p := documentProject()
	values := Values{BaseURL: "https://pkgs.example/idx", Serial: 77, Critical: true}
	ds := NewDocuments(p)
	if latest, ok := ds.Latest(); !ok || latest != 1 {
		t.Fatalf("latest release %d, %v; want 1", latest, ok)
	}
	body := ds.Project([]byte(metadata110)).Fill(values)
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	var compact bytes.Buffer
	json.Compact(&compact, body)
	if !bytes.Equal(compact.Bytes(), body) {
		t.Errorf("the document is not compact:\n%s", body)
	}
	files := func(fs ...map[string]any) []any {
		out := []any{}
		for _, f := range fs {
			out = append(out, f)
		}
		return out
	}
	wheel := func(name, c string) map[string]any {
		return map[string]any{"comment_text": "", "digests": map[string]any{"blake2b_256": strings.Repeat("f", 64),
			"md5": strings.Repeat(c, 32), "sha256": strings.Repeat(c, 64)}, "downloads": -1.0, "filename": name,
			"has_sig": false, "md5_digest": strings.Repeat(c, 32), "packagetype": "bdist_wheel", "python_version": "py3",
			"requires_python": nil, "size": 1234.0, "upload_time": "2026-01-02T03:04:05",
			"upload_time_iso_8601": "2026-01-02T03:04:05.123456Z",
			"url":                  "https://pkgs.example/idx/packages/" + c + c + "/" + c + c + "/" + strings.Repeat(c, 60) + "/" + name,
			"yanked":               false, "yanked_reason": nil}
	}
	w110, w20 := wheel("demo-1.10-py3-none-any.whl", "a"), wheel("demo-2.0rc1-py3-none-any.whl", "c")
	sdist := wheel("Demo-1.9.tar.gz", "b")
	sdist["packagetype"], sdist["python_version"], sdist["requires_python"] = "sdist", "source", ">=3.8"
	sdist["yanked"], sdist["yanked_reason"] = true, `"bad"`
	info := map[string]any{
		"author": nil, "author_email": nil, "bugtrack_url": nil, "classifiers": []any{"A :: B"}, "critical": true,
		"description": nil, "description_content_type": nil, "docs_url": nil, "download_url": nil,
		"downloads": map[string]any{"last_day": -1.0, "last_month": -1.0, "last_week": -1.0}, "dynamic": nil,
		"fully_protected": false, "home_page": nil, "keywords": nil, "license": nil, "license_expression": nil,
		"license_files": nil, "maintainer": nil, "maintainer_email": nil, "name": "Demo",
		"package_url": "https://pkgs.example/idx/project/Demo/", "platform": nil,
		"project_url": "https://pkgs.example/idx/project/Demo/", "project_urls": nil, "provides_extra": nil,
		"release_url": "https://pkgs.example/idx/project/Demo/1.10/", "requires_dist": nil,
		"requires_python": ">=3.9", "summary": "A demo \u2028 <b>", "version": "1.10", "yanked": false,
		"yanked_reason": nil,
	}
	want := map[string]any{
		"info": info, "last_serial": 42.0, "urls": files(w110), "vulnerabilities": []any{},
		"releases": map[string]any{"1.10": files(w110), "1.9": files(sdist), "2.0rc1": files(w20)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("project document (-want +got):\n%s", diff)
	}
	if !bytes.Contains(body, []byte(`"urls":[{"comment_text":"","digests":{"blake2b_256":`)) {
		t.Errorf("keys out of PyPI's order:\n%s", body)
	}

	release, ok := ds.Release(2, []byte(`not an object`))
	if !ok {
		t.Fatal("no release document")
	}
	got = nil
	if err := json.Unmarshal(release.Fill(values), &got); err != nil {
		t.Fatal(err)
	}
	info = map[string]any{}
	for k, v := range want["info"].(map[string]any) {
		info[k] = v
	}
	info["classifiers"], info["summary"], info["requires_python"] = []any{}, nil, ""
	info["release_url"], info["version"] = "https://pkgs.example/idx/project/Demo/1.9/", "1.9"
	info["yanked"], info["yanked_reason"] = true, `"bad"`
	want = map[string]any{"info": info, "last_serial": 77.0, "urls": files(sdist), "vulnerabilities": []any{}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("release document (-want +got):\n%s", diff)
	}
	if _, ok := ds.Release(99, nil); ok {
		t.Error("a document for a release the project does not have")
	}
	if _, ok := NewDocuments(Project{Name: "empty", DisplayName: "empty"}).Latest(); ok {
		t.Error("a latest release for a project without releases")
	}
}

// TestLatest: the highest final release not yanked, else the highest not yanked, else the highest.
func TestLatest(t *testing.T) {
	for _, tc := range []struct {
		versions []string
		yanked   []bool
		want     int
	}{
		{[]string{"1.0", "2.0", "3.0rc1"}, []bool{false, false, false}, 1},
		{[]string{"1.0", "2.0", "3.0rc1"}, []bool{false, true, false}, 0},
		{[]string{"1.0rc1", "2.0rc1"}, []bool{false, false}, 1},
		{[]string{"1.0", "2.0"}, []bool{true, true}, 1},
		{nil, nil, -1},
	} {
		got := Latest(len(tc.versions), func(i int) string { return tc.versions[i] }, func(i int) bool { return tc.yanked[i] })
		if got != tc.want {
			t.Errorf("Latest(%v, yanked %v) = %d, want %d", tc.versions, tc.yanked, got, tc.want)
		}
	}
}

// TestDocumentHoles: the holes survive storage, and damaged ones are refused rather than filled out of place.
func TestDocumentHoles(t *testing.T) {
	d, _ := NewDocuments(documentProject()).Release(1, []byte(metadata110))
	back, err := DecodeDocument(d.Body, d.EncodeHoles())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, back); diff != "" {
		t.Errorf("holes after storage (-want +got):\n%s", diff)
	}
	holes := d.EncodeHoles()
	for name, bad := range map[string][]byte{
		"cut short":      holes[:len(holes)-1],
		"past the end":   append([]byte{0xff, 0xff, 0x03, byte(FillSerial)}, holes...),
		"unknown filler": append(append([]byte{}, holes...), 0, 9),
		"no filler":      {0x01},
	} {
		if _, err := DecodeDocument(d.Body, bad); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}
