package e2e

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"wharf/internal/disttest"
	"wharf/internal/store/storetest"
)

// rankedNames reads the n most downloaded PyPI project names, most downloaded first, from the shared data beside
// the repository (PROJECTS_TSV names another copy).
func rankedNames(t *testing.T, n int) []string {
	t.Helper()
	path := os.Getenv("PROJECTS_TSV")
	if path == "" {
		path = filepath.Join("..", "..", "shared", "data", "pypi-projects.tsv.gz")
	}
	f, err := os.Open(path)
	if err != nil {
		if storetest.Required() {
			t.Fatalf("the project names: %v", err)
		}
		t.Skipf("the project names: %v", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	type ranked struct {
		name string
		rank int
	}
	var all []ranked
	sc := bufio.NewScanner(gz)
	for sc.Scan() {
		name, rank, _ := strings.Cut(sc.Text(), "\t")
		if r, err := strconv.Atoi(rank); err == nil && r <= n {
			all = append(all, ranked{name, r})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].rank < all[j].rank })
	var out []string
	for _, r := range all[:n] {
		out = append(out, r.name)
	}
	return out
}

// accessLog writes a combined-format log of lines downloads of the files at paths, drawn with Zipf weights by
// position (the first path is the most downloaded), on day.
func accessLog(t *testing.T, file string, paths []string, lines int, day time.Time, seed uint64) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(seed, seed))
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(paths)-1))
	for i := range lines {
		at := day.Add(time.Duration(i) * time.Second).Format("02/Jan/2006:15:04:05 -0700")
		fmt.Fprintf(w, "10.0.%d.%d - - [%s] \"GET %s HTTP/1.1\" 200 1234 \"-\" \"pip/23.0.1 {\\\"ci\\\":null}\"\n",
			i/250%250, i%250, at, paths[zipf.Uint64()])
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestCriticalProjectNeeds2FA is the life of a critical project with the real binary, twine, oathtool and
// Chromium: a maintainer without 2FA publishes with a token; access logs over real project names make the project
// the most downloaded; the designation refuses her next upload with the same token, with the reason in twine's
// output; she enrols an authenticator app, her old token stays refused, a new one publishes; and the project stays
// critical after its downloads fall.
func TestCriticalProjectNeeds2FA(t *testing.T) {
	tool(t, "/usr/bin/twine")
	names := rankedNames(t, 150)
	in := newInstance(t, storetest.Engines(t)[0])
	in.start()
	password := "maple lantern orbit 2112"
	in.mustRun(password+"\n", "user", "create", "maya", "--email", "maya@example.com")
	maya := in.newToken("maya")
	root := in.userWithToken("root")
	in.mustRun("", "user", "admin", "root")

	// Maya publishes the most downloaded name; an administrator brings in the other 149.
	dir := t.TempDir()
	wheel := func(name, version string) string {
		p := filepath.Join(dir, disttest.WheelName(name, version))
		if err := os.WriteFile(p, disttest.Wheel(name, version, disttest.Metadata(name, version), nil), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	in.twine(t, maya, true, "", wheel(names[0], "1.0"))
	var others []string
	for _, n := range names[1:] {
		others = append(others, wheel(n, "1.0"))
	}
	in.twine(t, root, true, "", others...)

	// The logs name each file by the URL the index gives it.
	var paths []string
	for _, n := range names {
		_, body := in.get("/simple/"+n+"/", "Accept", "application/vnd.pypi.simple.v1+json")
		var page simpleJSON
		if err := json.Unmarshal(body, &page); err != nil || len(page.Files) != 1 {
			t.Fatalf("%s: %v %s", n, err, body)
		}
		paths = append(paths, strings.TrimPrefix(page.Files[0].URL, in.URL))
	}
	day := time.Now().UTC().AddDate(0, 0, -2).Truncate(24 * time.Hour)
	logs := filepath.Join(dir, "access.log")
	accessLog(t, logs, paths, 20000, day, 1)
	in.mustRun("", "downloads", "import", logs)
	in.mustRun("", "downloads", "import", logs) // the same log again counts once
	out := in.mustRun("", "critical", "recompute", "--json")
	var res struct {
		Designated []struct {
			Name      string
			Downloads int64
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Designated) != 1 || res.Designated[0].Name != names[0] {
		t.Fatalf("recompute: %v %s", err, out)
	}
	if n := res.Designated[0].Downloads; n < 2000 || n > 20000 {
		t.Errorf("%s counted %d downloads of the 20,000 lines", names[0], n)
	}

	// The same token is refused now, and twine says why and what to do.
	in.twine(t, maya, false, "is a critical project: nobody without two-factor authentication can publish", wheel(names[0], "1.1"))

	// Maya enrols an authenticator app on the website, with a code from oathtool.
	b := newBrowser(t)
	b.signIn(in.Site, "maya", password)
	b.do(chromedp.Navigate(in.Site + "/manage/account/totp/"))
	if strings.Contains(b.location(), "/account/reauthenticate/") {
		b.fill("#reauth-form", map[string]string{"password": password})
	}
	b.fill("#totp-begin-form", nil)
	secret := strings.TrimSpace(b.text("#totp-secret"))
	b.fill("#totp-confirm-form", map[string]string{"code": oathCode(t, secret, time.Now())})
	b.do(chromedp.Navigate(in.Site + "/project/" + names[0] + "/"))
	b.screenshot("critical-project-page")
	if badge := b.text("#critical-badge"); badge == "" {
		t.Error("the project page shows no critical badge")
	}
	b.do(chromedp.Navigate(in.Site + "/manage/project/" + names[0] + "/collaboration/"))
	b.screenshot("collaboration-2fa-column")
	if got := b.text(`tr[data-user=maya] td.two-factor`); got == "" || got == "none" {
		t.Errorf("the collaboration page's 2FA column says %q for maya, who has an authenticator app", got)
	}

	// Her old token was made while the account had no second factor: still refused. A new one publishes.
	in.twine(t, maya, false, "before two-factor authentication was enabled for 'maya'", wheel(names[0], "1.1"))
	in.twine(t, in.newToken("maya"), true, "", wheel(names[0], "1.1"))

	// The next day the project is hardly downloaded, and another one leads; both are critical now.
	later := filepath.Join(dir, "later.log")
	rotated := append(append([]string{}, paths[1:]...), paths[0])
	accessLog(t, later, rotated, 20000, day.AddDate(0, 0, 1), 2)
	in.mustRun("", "downloads", "import", later)
	in.mustRun("", "critical", "recompute")
	var list []struct{ Name string }
	if err := json.Unmarshal([]byte(in.mustRun("", "critical", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	var critical []string
	for _, p := range list {
		critical = append(critical, p.Name)
	}
	if len(critical) != 2 || !strings.Contains(strings.Join(critical, " "), names[0]) {
		t.Errorf("critical projects %v, want %s kept and the new leader %s", critical, names[0], names[1])
	}
}

// newToken mints an account-wide token for an existing user with the command line.
func (in *instance) newToken(user string) string {
	in.t.Helper()
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(in.mustRun("", "token", "create", "--user", user, "--json")), &tok); err != nil || tok.Token == "" {
		in.t.Fatalf("token create: %v", err)
	}
	return tok.Token
}

// TestMandatePhases: the global mandate's phases, set by dates in the configuration, seen through twine by a
// maintainer without 2FA: before, everything; in restrict, no new project; in enforce, no upload at all.
func TestMandatePhases(t *testing.T) {
	tool(t, "/usr/bin/twine")
	in := newInstance(t, storetest.Engines(t)[0])
	in.start()
	bare := in.userWithToken("bare")
	dir := t.TempDir()
	wheel := func(name, version string) string {
		p := filepath.Join(dir, disttest.WheelName(name, version))
		if err := os.WriteFile(p, disttest.Wheel(name, version, disttest.Metadata(name, version), nil), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	in.twine(t, bare, true, "", wheel("bare-lib", "1.0"))

	past, future := time.Now().AddDate(0, 0, -1).Format(time.DateOnly), time.Now().AddDate(0, 1, 0).Format(time.DateOnly)
	restart := func(env ...string) {
		in.stop(syscall.SIGTERM)
		in.extraEnv = env
		in.start()
	}
	// In notice, the maintainer sees the banner with the brown-out to come.
	nextWeek := time.Now().AddDate(0, 0, 7).Format(time.DateOnly)
	restart("WHARF_MANDATE_NOTICE="+past, "WHARF_MANDATE_ENFORCE="+future, "WHARF_MANDATE_BROWNOUTS="+nextWeek+"/"+future)
	b := newBrowser(t)
	b.signIn(in.Site, "bare", "correct horse battery staple")
	b.do(chromedp.Navigate(in.Site + "/"))
	b.screenshot("notice-banner")
	if got := b.text("#mandate-banner"); !strings.Contains(got, "will be required of every account that maintains projects here") ||
		!strings.Contains(got, "A brown-out will apply the full requirement from "+nextWeek+" 00:00") {
		t.Errorf("the notice banner says %q", got)
	}

	restart("WHARF_MANDATE_NOTICE="+past, "WHARF_MANDATE_RESTRICT="+past, "WHARF_MANDATE_ENFORCE="+future)
	// In restrict, the banner says what is refused, and so does the page that refuses it.
	b.do(chromedp.Navigate(in.Site + "/manage/account/token/"))
	if strings.Contains(b.location(), "/account/reauthenticate/") {
		b.fill("#reauth-form", map[string]string{"password": "correct horse battery staple"})
	}
	b.screenshot("restrict-banner")
	b.fill("#token-form", map[string]string{"name": "another"})
	b.screenshot("restrict-refusal")
	if got := b.text("#token-form p.error"); !strings.Contains(got, "so it can no longer create API tokens") {
		t.Errorf("the refusal page says %q", got)
	}
	if out := in.mustRun("", "policy", "show"); !strings.HasPrefix(out, "phase in force: restrict") {
		t.Fatalf("policy show: %s", out)
	}
	// The upload the restrict phase still allows comes back with a warning, which twine prints with --verbose.
	cmd := exec.Command("/usr/bin/twine", "upload", "--verbose", "--non-interactive", "--disable-progress-bar",
		"--repository-url", in.URL+"/legacy/", "-u", "__token__", "-p", bare, wheel("bare-lib", "1.1"))
	out, err := cmd.CombinedOutput()
	if words := strings.Join(strings.Fields(string(out)), " "); err != nil ||
		!strings.Contains(words, "WARNING: two-factor authentication is becoming required of every account that maintains projects on this index, and 'bare' has none. This will be refused from "+future) {
		t.Errorf("twine --verbose in restrict: %v\n%s", err, out)
	}
	in.twine(t, bare, false, "so it can no longer create projects. From "+future+" nothing but enrolling a factor will be open to it.",
		wheel("bare-other", "1.0"))

	restart("WHARF_MANDATE_ENFORCE=" + past)
	in.twine(t, bare, false, "Two-factor authentication is required of every account that maintains projects on this index, and 'bare' has none",
		wheel("bare-lib", "1.2"))

	// A brown-out from the policy file refuses for its window what enforce will refuse, and says so.
	policyFile := filepath.Join(dir, "policy.toml")
	later := time.Now().AddDate(0, 2, 0).Format(time.DateOnly)
	if err := os.WriteFile(policyFile, []byte("[mandate]\nnotice = "+past+"\nenforce = "+later+"\nbrownouts = [{ start = "+past+", end = "+future+" }]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	restart("WHARF_POLICY_FILE=" + policyFile)
	in.twine(t, bare, false, "This is a scheduled brown-out of the 2FA mandate, until "+future+" 00:00 UTC", wheel("bare-lib", "1.2"))
}
