package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/blob"
	"wharf/internal/ratelimit"
)

func load(t *testing.T, args []string, env map[string]string) (Config, []string, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(fs, args, func(k string) string { return env[k] })
}

func TestPrecedence(t *testing.T) {
	c, pos, err := load(t, []string{"create", "--listen", "127.0.0.1:9000", "alice"},
		map[string]string{"WHARF_LISTEN": "127.0.0.1:7000", "WHARF_DATA_DIR": "/srv/wharf", "WHARF_MAX_FILE_SIZE": "20MiB"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"create", "alice"}, pos); diff != "" {
		t.Errorf("positional (-want +got):\n%s", diff)
	}
	want := map[string]any{
		"listen": "127.0.0.1:9000", "db": "sqlite:/srv/wharf/wharf.db", "storage": "file:/srv/wharf/files",
		"base": "http://127.0.0.1:9000", "maxfile": int64(20 << 20), "keyfile": "/srv/wharf/secret.key",
	}
	got := map[string]any{
		"listen": c.Listen, "db": c.DatabaseURL, "storage": c.StorageURL, "base": c.BaseURL,
		"maxfile": c.MaxFileSize, "keyfile": c.SecretKeyFile,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// TestLimitSettings: the limits a person running the index sets, with PyPI's values as defaults; the environment
// changes rules by name, flags change them further, and a rule neither names keeps its default.
func TestLimitSettings(t *testing.T) {
	c, _, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxUnpackedSize != 512<<20 || c.RateLimits != ratelimit.DefaultRules() {
		t.Errorf("defaults: unpacked %d, rules %v", c.MaxUnpackedSize, c.RateLimits)
	}
	c, _, err = load(t, []string{"--rate-limits", "project-create-user=500/1h", "--max-unpacked-size", "2GiB"},
		map[string]string{"WHARF_RATE_LIMITS": "project-create-user=100/1h,project-create-ip=300/2h", "WHARF_MAX_UNPACKED_SIZE": "1GiB"})
	if err != nil {
		t.Fatal(err)
	}
	want := ratelimit.DefaultRules()
	want.ProjectCreateUser.Limit = 500
	want.ProjectCreateIP.Limit, want.ProjectCreateIP.Window = 300, 2*time.Hour
	if diff := cmp.Diff(want, c.RateLimits); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if c.MaxUnpackedSize != 2<<30 {
		t.Errorf("unpacked size %d, want the flag's 2 GiB", c.MaxUnpackedSize)
	}
	c, _, err = load(t, []string{"--mandate-enforce", "2027-06-01T12:00:00+02:00"}, map[string]string{"WHARF_MANDATE_NOTICE": "2027-01-01", "WHARF_MANDATE_RESTRICTED": "create-project"})
	if err != nil || !c.MandateNotice.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		!c.MandateEnforce.Equal(time.Date(2027, 6, 1, 10, 0, 0, 0, time.UTC)) || c.MandateRestricted != "create-project" {
		t.Errorf("mandate settings: %v %v %q %v", c.MandateNotice, c.MandateEnforce, c.MandateRestricted, err)
	}
	c, _, err = load(t, []string{"--critical-window", "90d"}, map[string]string{"WHARF_CRITICAL_PERCENT": "0.5", "WHARF_CRITICAL_WINDOW": "30d",
		"WHARF_CRITICAL_REQUIRE_KEYS": "true"})
	if err != nil || c.CriticalPercent != 0.5 || c.CriticalWindow != 90*24*time.Hour || !c.CriticalRequireKeys {
		t.Errorf("critical settings: %v %v %v %v", c.CriticalPercent, c.CriticalWindow, c.CriticalRequireKeys, err)
	}
	if c.ShutdownTimeout != 20*time.Second {
		t.Errorf("shutdown timeout %v, want 20s by default", c.ShutdownTimeout)
	}
	c, _, err = load(t, []string{"--shutdown-timeout", "1m"}, map[string]string{"WHARF_SHUTDOWN_TIMEOUT": "5s"})
	if err != nil || c.ShutdownTimeout != time.Minute {
		t.Errorf("shutdown timeout %v %v, want the flag's 1m", c.ShutdownTimeout, err)
	}
}

func TestInvalidValuesNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"WHARF_MIGRATE": "perhaps"}, nil, "WHARF_MIGRATE"},
		{map[string]string{"WHARF_MAX_FILE_SIZE": "lots"}, nil, "WHARF_MAX_FILE_SIZE"},
		{map[string]string{"WHARF_LISTEN": "nohost"}, nil, "WHARF_LISTEN"},
		{map[string]string{"WHARF_DATABASE_URL": "mysql://x"}, nil, "WHARF_DATABASE_URL"},
		{map[string]string{"WHARF_STORAGE_URL": "gs://bucket"}, nil, "WHARF_STORAGE_URL"},
		{map[string]string{"WHARF_STORAGE_URL": "s3://bucket?endpoint=localhost:9000"}, nil, "WHARF_STORAGE_URL"},
		{map[string]string{"WHARF_BASE_URL": "ftp://x"}, nil, "WHARF_BASE_URL"},
		{map[string]string{"WHARF_SECRET_KEY": "short"}, nil, "WHARF_SECRET_KEY"},
		{nil, []string{"--max-file-size", "2GiB", "--max-project-size", "1GiB"}, "WHARF_MAX_FILE_SIZE"},
		{map[string]string{"WHARF_RATE_LIMITS": "project-create=5/1h"}, nil, "WHARF_RATE_LIMITS"},
		{map[string]string{"WHARF_MAX_UNPACKED_SIZE": "0"}, nil, "WHARF_MAX_UNPACKED_SIZE"},
		{map[string]string{"WHARF_PAGE_LOG_SIZE": "64KiB"}, nil, "WHARF_PAGE_LOG_SIZE"},
		{map[string]string{"WHARF_PAGE_LOG_SIZE": "129GiB"}, nil, "WHARF_PAGE_LOG_SIZE"},
		{nil, []string{"--rate-limits", "login-ip=many/5m"}, "rate-limits"},
		{map[string]string{"WHARF_CRITICAL_PERCENT": "0"}, nil, "WHARF_CRITICAL_PERCENT"},
		{map[string]string{"WHARF_CRITICAL_PERCENT": "lots"}, nil, "WHARF_CRITICAL_PERCENT"},
		{map[string]string{"WHARF_CRITICAL_WINDOW": "2h"}, nil, "WHARF_CRITICAL_WINDOW"},
		{map[string]string{"WHARF_MANDATE_ENFORCE": "next spring"}, nil, "WHARF_MANDATE_ENFORCE"},
		{map[string]string{"WHARF_SHUTDOWN_TIMEOUT": "20"}, nil, "WHARF_SHUTDOWN_TIMEOUT"},
		{map[string]string{"WHARF_SHUTDOWN_TIMEOUT": "-1s"}, nil, "WHARF_SHUTDOWN_TIMEOUT"},
	} {
		_, _, err := load(t, tc.args, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v args %v: err = %v, want one naming %s", tc.env, tc.args, err, tc.want)
		}
	}
}

// TestS3Storage: an s3:// storage URL is read into the bucket's settings, with uploads staged in the data
// directory, and a file: URL has none.
func TestS3Storage(t *testing.T) {
	c, _, err := load(t, nil, map[string]string{"WHARF_DATA_DIR": "/srv/wharf",
		"WHARF_STORAGE_URL": "s3://files?endpoint=https://s3.example.com&region=eu-west-1&prefix=pypi"})
	if err != nil {
		t.Fatal(err)
	}
	o, ok := c.S3()
	want := blob.S3Options{Endpoint: "https://s3.example.com", Region: "eu-west-1", Bucket: "files", Prefix: "pypi/",
		StagingDir: filepath.Join("/srv/wharf", "staging")}
	if !ok || o != want {
		t.Errorf("S3() = %+v, %v; want %+v", o, ok, want)
	}
	c, _, err = load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := c.S3(); ok {
		t.Errorf("S3() with the default storage = %+v", o)
	}
}

func TestSecretKeyGeneratedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	c, _, err := load(t, nil, map[string]string{"WHARF_DATA_DIR": dir})
	if err != nil {
		t.Fatal(err)
	}
	k1, err := c.LoadSecretKey()
	if err != nil || len(k1) != 32 {
		t.Fatalf("generated key: %d bytes, %v", len(k1), err)
	}
	st, err := os.Stat(filepath.Join(dir, "secret.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}
	c2, _, _ := load(t, nil, map[string]string{"WHARF_DATA_DIR": dir})
	k2, err := c2.LoadSecretKey()
	if err != nil || string(k1) != string(k2) {
		t.Errorf("second start read another key (%v)", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "1KiB": 1024, "100MiB": 100 << 20, "2GB": 2e9, "3 GiB": 3 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "1.5GB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

// TestPolicyFile: the mandate and the critical projects' requirement read from a TOML file, with TOML's own dates
// or strings, and every setting made in the environment or on the command line winning over the file's.
func TestPolicyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.toml")
	writeFile := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(`
[mandate]
notice = 2027-01-01
restrict = "2027-03-01"
enforce = 2027-06-01T12:00:00+02:00
restricted = ["create-project", "create-token"]
brownouts = [
  { start = 2027-04-01T14:00:00Z, end = 2027-04-01T16:00:00Z },
  { start = 2027-05-01, end = 2027-05-02 },
]

[critical]
require_keys = true
`)
	c, _, err := load(t, []string{"--mandate-restrict", "2027-02-01"}, map[string]string{"WHARF_POLICY_FILE": path})
	if err != nil {
		t.Fatal(err)
	}
	day := func(m time.Month, d, h int) time.Time { return time.Date(2027, m, d, h, 0, 0, 0, time.UTC) }
	if !c.MandateNotice.Equal(day(1, 1, 0)) || !c.MandateRestrict.Equal(day(2, 1, 0)) || !c.MandateEnforce.Equal(day(6, 1, 10)) {
		t.Errorf("dates: %v %v %v", c.MandateNotice, c.MandateRestrict, c.MandateEnforce)
	}
	if c.MandateRestricted != "create-project,create-token" || !c.CriticalRequireKeys ||
		c.MandateBrownouts != "2027-04-01T14:00:00Z/2027-04-01T16:00:00Z,2027-05-01T00:00:00Z/2027-05-02T00:00:00Z" {
		t.Errorf("restricted %q, keys %v, brownouts %q", c.MandateRestricted, c.CriticalRequireKeys, c.MandateBrownouts)
	}
	for body, want := range map[string]string{
		"[mandate]\nnotcie = 2027-01-01\n":                  `unknown setting "mandate.notcie"`,
		"[mandate]\nnotice = \"next spring\"\n":             "is not a date",
		"[mandate]\nbrownouts = [{ start = 2027-04-01 }]\n": "needs a start and an end",
		"[mandate\n": "WHARF_POLICY_FILE",
	} {
		writeFile(body)
		if _, _, err := load(t, nil, map[string]string{"WHARF_POLICY_FILE": path}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", body, err, want)
		}
	}
	if _, _, err := load(t, []string{"--policy-file", filepath.Join(t.TempDir(), "missing.toml")}, nil); err == nil {
		t.Error("a missing policy file was ignored")
	}
}
