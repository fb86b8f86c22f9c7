package critical

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// benchLogLines is the size of the log BenchmarkImport imports per iteration: a day of a busy mirror.
const benchLogLines = 1_000_000

// benchFile is a distribution file of the benchmark's index, with the path it is served from.
type benchFile struct{ project, name, path string }

// seedBenchIndex loads n projects with the files a compiled package publishes for one release: an sdist, a pure
// wheel and platform wheels.
func seedBenchIndex(b *testing.B, db *store.DB, n int) []benchFile {
	b.Helper()
	words := []string{"async", "py", "django", "flask", "data", "json", "http", "aws", "cloud", "test", "lint",
		"yaml", "crypto", "numpy", "torch", "auth", "cli", "orm", "schema", "client"}
	tags := []string{"py3-none-any.whl", "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
		"cp311-cp311-win_amd64.whl", "cp312-cp312-macosx_11_0_arm64.whl"}
	var out []benchFile
	var seed []store.NewFile
	for i := range n {
		project := fmt.Sprintf("%s-%s-%d", words[i%len(words)], words[(i/len(words))%len(words)], i)
		dist := fmt.Sprintf("%s_%s_%d", words[i%len(words)], words[(i/len(words))%len(words)], i)
		version := fmt.Sprintf("%d.%d.%d", 1+i%7, i%13, i%3)
		names := []string{dist + "-" + version + ".tar.gz"}
		for _, tag := range tags {
			names = append(names, dist+"-"+version+"-"+tag)
		}
		for _, name := range names {
			sum := sha256.Sum256([]byte(name))
			sha := hex.EncodeToString(sum[:])
			blake := sha256.Sum256([]byte("blake2 " + name))
			seed = append(seed, store.NewFile{
				ProjectName: project, NormalizedName: project, UltraName: project, Version: version,
				CanonicalVersion: version, ReleaseMetadata: []byte(`{"summary":"bench"}`), Filename: name,
				PackageType: "bdist_wheel", PythonVersion: "py3", Size: 1 << 20, SHA256: sha, MD5: sha[:32],
				Blake2b256: hex.EncodeToString(blake[:]), Now: time.Unix(1e9, 0),
			})
			out = append(out, benchFile{project, name, "/packages/" + sha[:2] + "/" + sha[2:4] + "/" + sha[4:] + "/" + name})
		}
	}
	if err := db.SeedFiles(context.Background(), seed); err != nil {
		b.Fatal(err)
	}
	return out
}

// writeBenchLog writes a log of a mirror's traffic over three days, starting on day: mostly downloads, of a few
// popular files more than of the others, then index pages, core metadata, revalidations, HEADs and files the index
// does not have.
func writeBenchLog(b *testing.B, path string, files []benchFile, day time.Time, seed uint64) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(seed, 42))
	agent := `pip/24.0 {\"ci\":null,\"cpu\":\"x86_64\",\"distro\":{\"name\":\"Ubuntu\",\"version\":\"22.04\"},` +
		`\"implementation\":{\"name\":\"CPython\",\"version\":\"3.12.1\"},\"installer\":{\"name\":\"pip\",\"version\":\"24.0\"},` +
		`\"openssl_version\":\"OpenSSL 3.0.2 15 Mar 2022\",\"python\":\"3.12.1\",\"system\":{\"name\":\"Linux\",\"release\":\"5.15.0\"}}`
	zone := time.FixedZone("", 2*3600)
	step := 3 * 24 * time.Hour / benchLogLines
	for i := range benchLogLines {
		// A cube of a uniform number picks the first files far more often: a few projects get most downloads.
		u := rng.Float64()
		file := files[int(u*u*u*float64(len(files)))]
		method, path, status, size := "GET", file.path, 200, 1<<20
		switch r := rng.IntN(100); {
		case r < 10:
			path, size = "/simple/"+file.project+"/", 4096
		case r < 15:
			path, size = file.path+".metadata", 2048
		case r < 18:
			status, size = 304, 0
		case r < 19:
			method, size = "HEAD", 0
		case r < 20:
			path = "/packages/00/11/2233/removed_pkg-0.1.tar.gz"
		}
		client := fmt.Sprintf("%d.%d.%d.%d", 10+rng.IntN(200), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
		if rng.IntN(4) == 0 {
			client = fmt.Sprintf("2001:db8:%x:%x::%x", rng.IntN(65536), rng.IntN(65536), rng.IntN(65536))
		}
		at := day.Add(time.Duration(i) * step).In(zone).Format("02/Jan/2006:15:04:05 -0700")
		fmt.Fprintf(w, "%s - - [%s] \"%s %s HTTP/1.1\" %d %d \"-\" \"%s\"\n", client, at, method, path, status, size, agent)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkImport imports a log of a million lines into SQLite, with 20,000 files on the index.
func BenchmarkImport(b *testing.B) {
	db := storetest.OpenSQLite(b)
	files := seedBenchIndex(b, db, 4000)
	dir := b.TempDir()
	ctx := context.Background()
	var bytesRead int64
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		// Each iteration imports new lines, as a daily import would; a log imported again only skips.
		path := filepath.Join(dir, fmt.Sprintf("access-%d.log", i))
		writeBenchLog(b, path, files, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 3*i), uint64(i))
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		bytesRead += st.Size()
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		im := NewImporter(db, ImportOptions{})
		if err := im.Import(ctx, path, f); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		f.Close()
		os.Remove(path)
		if s := im.Stats(); s.Lines != benchLogLines || s.Downloads < benchLogLines*3/4 || s.Unparseable != 0 {
			b.Fatalf("stats %+v", s)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(benchLogLines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.SetBytes(bytesRead / int64(b.N))
}
