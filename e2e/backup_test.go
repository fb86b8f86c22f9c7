package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"wharf/internal/disttest"
)

// TestBackupRestore follows the README's backups: the database copied while the server runs (SQLite's online
// backup, pg_dump), then the files folder and the secret key; restored into a new data folder and database, the
// index serves every file with its bytes, a token minted before the backup still uploads, and wharf fsck proves it.
func TestBackupRestore(t *testing.T) {
	for _, setup := range setups(t) {
		if setup.S3 {
			continue // a bucket is copied with the store's own tools (aws s3 sync, versioning), not by wharf
		}
		t.Run(setup.Name, func(t *testing.T) {
			in := newSetupInstance(t, setup)
			in.start()
			token := in.userWithToken("dora")
			for _, v := range []string{"1.0", "2.0"} {
				if code := uploadWheel(t, in, token, "kept-safe", v); code != http.StatusOK {
					t.Fatalf("upload %s: %d", v, code)
				}
			}

			backup := t.TempDir()
			restored := &instance{t: t, dataDir: t.TempDir()}
			if strings.HasPrefix(in.dbURL, "sqlite:") {
				sqlite := tool(t, "/usr/bin/sqlite3")
				sh(t, backup, nil, sqlite, strings.TrimPrefix(in.dbURL, "sqlite:"), ".backup "+filepath.Join(backup, "wharf.db"))
				restored.dbURL = "sqlite:" + filepath.Join(restored.dataDir, "wharf.db")
				copyFile(t, filepath.Join(backup, "wharf.db"), strings.TrimPrefix(restored.dbURL, "sqlite:"))
			} else {
				dump := filepath.Join(backup, "wharf.dump")
				sh(t, backup, nil, tool(t, "/usr/bin/pg_dump"), "--format=custom", "--no-owner", "--file", dump, in.dbURL)
				restored.dbURL = setup.Engine.URL(t)
				sh(t, backup, nil, tool(t, "/usr/bin/pg_restore"), "--no-owner", "--exit-on-error", "--dbname", restored.dbURL, dump)
			}
			sh(t, backup, nil, "cp", "-a", filepath.Join(in.dataDir, "files"), filepath.Join(in.dataDir, "secret.key"), restored.dataDir)
			in.stop(syscall.SIGTERM)

			restored.start()
			checkRestoredFsck(t, restored, 2)
			_, body := restored.get("/simple/kept-safe/", "Accept", "application/vnd.pypi.simple.v1+json")
			var page simpleJSON
			if err := json.Unmarshal(body, &page); err != nil || len(page.Files) != 2 {
				t.Fatalf("the restored page: %v %s", err, body)
			}
			for _, f := range page.Files {
				_, b := restored.get(strings.TrimPrefix(f.URL, restored.URL))
				sum := sha256.Sum256(b)
				if hex.EncodeToString(sum[:]) != f.Hashes["sha256"] {
					t.Errorf("restored %s: other bytes", f.Filename)
				}
			}
			if code := uploadWheel(t, restored, token, "kept-safe", "3.0"); code != http.StatusOK {
				t.Errorf("a token minted before the backup, after the restore: %d", code)
			}
			if _, body := restored.get("/simple/kept-safe/"); !strings.Contains(string(body), disttest.WheelName("kept-safe", "3.0")) {
				t.Error("the upload after the restore is not listed")
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
