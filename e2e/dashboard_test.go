package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// TestAdoptionDashboard: `wharf serve` records yesterday's 2FA adoption figures when it starts, /metrics serves
// today's, and an administrator's Chromium draws the dashboard's charts over half a year of history. The
// screenshot is kept with the other artifacts.
func TestAdoptionDashboard(t *testing.T) {
	ctx := context.Background()
	in := newInstance(t, storetest.Engines(t)[0])
	db, err := store.Open(ctx, in.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	seedAdoption(t, db, today)
	password := "juniper ledger comet 5150"
	in.mustRun(password+"\n", "user", "create", "root", "--email", "root@example.com")
	in.mustRun("", "user", "admin", "root")
	in.start()

	// The server's first daily snapshot: yesterday, with the accounts as they are and yesterday's uploads.
	yesterday := today.AddDate(0, 0, -1)
	var recorded store.AdoptionDay
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		days, err := db.AdoptionHistory(ctx, yesterday)
		if err != nil {
			t.Fatal(err)
		}
		if len(days) == 1 && !days[0].TakenAt.Before(now) {
			recorded = days[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot of %s by the server: %+v", yesterday.Format(time.DateOnly), days)
		}
	}
	want := store.Adoption{Maintainers: 40, MaintainersWith2FA: 30, MaintainersWithWebAuthn: 10, CriticalProjects: 5,
		CriticalMaintainers: 10, CriticalMaintainersWith2FA: 8, CriticalMaintainersWithWebAuthn: 3, Uploads: 40, UploadsWith2FA: 30}
	if recorded.Adoption != want {
		t.Errorf("the server's snapshot of yesterday: %+v, want %+v", recorded.Adoption, want)
	}

	// /metrics: the same accounts, in Prometheus's text format, with the requests answered before it.
	in.get("/simple/")
	resp, body := in.get("/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"wharf_maintainers": 40, "wharf_maintainers_with_2fa": 30,
		"wharf_critical_projects": 5, "wharf_critical_maintainers_with_webauthn": 3} {
		if f := families[name]; f == nil || f.GetMetric()[0].GetGauge().GetValue() != want {
			t.Errorf("%s = %v, want %v", name, f, want)
		}
	}
	if families["go_goroutines"] == nil || families["process_resident_memory_bytes"] == nil {
		t.Error("/metrics lacks the Go runtime's or the process's metrics")
	}
	// The operations' own: requests by route, the page cache and the connection pools.
	for _, name := range []string{"wharf_http_requests_total", "wharf_http_request_duration_seconds",
		"wharf_page_file_misses_total", "go_sql_open_connections"} {
		if families[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	b := newBrowser(t)
	b.signIn(in.Site, "root", password)
	b.do(chromedp.Navigate(in.Site+"/admin/dashboard/"), chromedp.WaitVisible("svg#chart-maintainers"))
	for _, id := range []string{"chart-maintainers", "chart-critical", "chart-uploads"} {
		box, err := chromedp.Run(b.ctx, chromedp.Dimensions("svg#"+id))
		if err != nil {
			t.Fatal(err)
		}
		if box.Width < 400 || box.Height < 100 {
			t.Errorf("chart %s is drawn %dx%d", id, box.Width, box.Height)
		}
		n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll("svg#%s polyline").length`, id)))
		if err != nil || n == 0 {
			t.Errorf("chart %s: %d lines, %v", id, n, err)
		}
	}
	if got := b.text("#figure-maintainers-2fa .share"); got != "75.0 %" {
		t.Errorf("maintainers with 2FA: %q", got)
	}
	b.screenshot("dashboard")
	t.Logf("screenshot of the dashboard: %s", filepath.Join(b.artifacts, "dashboard.png"))
}

// seedAdoption makes 40 maintainers of 20 projects, 5 of them critical, with their factors and yesterday's uploads,
// and a synthetic history of the half year before yesterday.
func seedAdoption(t *testing.T, db *store.DB, today time.Time) {
	t.Helper()
	ctx := context.Background()
	enrolled := today.AddDate(0, 0, -10)
	yesterdayNoon := today.Add(-12 * time.Hour)
	// u%4 == 0: a security key; 1 and 2: an authenticator app; 3: nothing. Even users own p(u/2), odd ones maintain it.
	var users []store.User
	for i := range 40 {
		u, err := db.CreateUser(ctx, store.User{Username: fmt.Sprintf("maint%02d", i), Email: fmt.Sprintf("maint%02d@example.com", i),
			PasswordHash: "x", CreatedAt: enrolled})
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
		switch i % 4 {
		case 0:
			if _, err := db.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: u.ID, CredentialID: []byte(u.Username),
				PublicKey: []byte("pk"), AAGUID: make([]byte, 16), Label: "key", CreatedAt: enrolled}); err != nil {
				t.Fatal(err)
			}
		case 1, 2:
			p := store.TOTPPending{UserID: u.ID, Sealed: []byte("s"), CreatedAt: enrolled, ExpiresAt: enrolled.Add(time.Hour)}
			if err := db.PutTOTPPending(ctx, p); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ActivateTOTP(ctx, u.ID, p.Sealed, 1, enrolled); err != nil {
				t.Fatal(err)
			}
		}
	}
	var critical []int64
	for i := range 20 {
		name := fmt.Sprintf("adoption-demo-%02d", i)
		for j, v := range []string{"1.0", "1.1"} {
			by := users[2*i+j]
			res, err := db.AddFile(ctx, store.NewFile{ProjectName: name, NormalizedName: name, UltraName: name, CreateProject: j == 0,
				UploaderID: by.ID, Version: v, CanonicalVersion: v, ReleaseMetadata: []byte(`{}`),
				Filename: name + "-" + v + ".tar.gz", PackageType: "sdist", PythonVersion: "source", Size: 1,
				SHA256: fmt.Sprintf("%064d", 100*i+j), MD5: "m", Blake2b256: fmt.Sprintf("b%063d", 100*i+j), Now: yesterdayNoon})
			if err != nil {
				t.Fatal(err)
			}
			if j == 0 {
				if err := db.AddRole(ctx, res.Project.ID, users[2*i+1].ID, store.RoleMaintainer, enrolled); err != nil {
					t.Fatal(err)
				}
				if i < 5 {
					critical = append(critical, res.Project.ID)
				}
			}
		}
	}
	if _, err := db.MarkCritical(ctx, critical, enrolled); err != nil {
		t.Fatal(err)
	}
	// The half year before: adoption rising along an S-curve, uploads noisy around it, two days without uploads.
	sigmoid := func(x float64) float64 { return 1 / (1 + math.Exp(-9*(x-0.55))) }
	for i := 181; i >= 2; i-- {
		x := float64(181-i) / 179
		s := sigmoid(x)
		m := int64(30 + math.Round(10*x))
		cm := int64(8 + math.Round(2*x))
		uploads := int64(15 + (i*7)%13)
		if i == 120 || i == 45 {
			uploads = 0
		}
		noise := math.Sin(float64(i)*1.7) * 9
		share := func(n int64, pct float64) int64 {
			return int64(math.Round(float64(n) * math.Max(0, math.Min(100, pct)) / 100))
		}
		a := store.Adoption{
			Maintainers: m, MaintainersWith2FA: share(m, 18+57*s), MaintainersWithWebAuthn: share(m, 2+23*s),
			CriticalProjects: 5, CriticalMaintainers: cm, CriticalMaintainersWith2FA: share(cm, 35+45*s),
			CriticalMaintainersWithWebAuthn: share(cm, 4+26*s), Uploads: uploads, UploadsWith2FA: share(uploads, 22+55*s+noise),
		}
		day := today.AddDate(0, 0, -i)
		if err := db.RecordAdoptionDay(ctx, store.AdoptionDay{Day: day, TakenAt: day.Add(24*time.Hour + 5*time.Minute), Adoption: a}); err != nil {
			t.Fatal(err)
		}
	}
}
