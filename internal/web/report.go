package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"wharf/internal/audit"
	"wharf/internal/httperror"
	"wharf/internal/notify"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/ratelimit"
	"wharf/internal/store"
)

// Reports of projects: a signed-in user tells the administrators of malware, spam or a typo-squatting name. A
// report is a project:report event in the security history, mailed to every administrator and listed for them on
// /admin/reports/; the project's Owners never see it (projects.Manager.History leaves it out).

// reportReason is a reason a project is reported for, as the form offers it.
type reportReason struct{ Value, Label string }

var reportReasons = []reportReason{
	{"malware", "Malware: it installs or runs harmful code"},
	{"spam", "Spam: it is not a real project"},
	{"typo-squatting", "Typo-squatting: its name imitates another project's"},
	{"other", "Something else"},
}

const (
	// maxReportText bounds what a reporter writes: enough to say what and where, short enough for a mail.
	maxReportText = 1000
	// reportsPage is how many reports the administrators' page shows at once.
	reportsPage = 50
)

var (
	errReportReason = httperror.New(http.StatusBadRequest, "Choose why you report the project: malware, spam, typo-squatting or something else.")
	errReportText   = httperror.New(http.StatusBadRequest,
		"Say in up to %d characters what you found and where (a file, a line, the project it imitates): the administrators act on what you write.", maxReportText)
)

type reportPage struct {
	Project store.Project
	Reasons []reportReason
	// Denied is the policy's reason the visitor may not report, shown instead of the form; "" when they may.
	Denied string
}

// reportPath is the page of the form that reports a project.
func reportPath(name string) string { return "/project/" + url.PathEscape(name) + "/report/" }

// reported finds the project a report is about, by any spelling of its name.
func (s *Site) reported(r *http.Request) (store.Project, error) {
	name := r.PathValue("name")
	if !pypkg.ValidProjectName(name) {
		return store.Project{}, errNotFound
	}
	p, err := s.db.ProjectByName(r.Context(), pypkg.NormalizeName(name))
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, errNotFound
	}
	return p, err
}

// ReportForm is the form that reports a project to the administrators, for a signed-in visitor.
func (s *Site) ReportForm(w http.ResponseWriter, r *http.Request) error {
	v, err := s.page(w, r, "")
	if v == nil {
		return err
	}
	p, err := s.reported(r)
	if err != nil {
		return err
	}
	if r.PathValue("name") != p.Name {
		http.Redirect(w, r, reportPath(p.Name), http.StatusMovedPermanently)
		return nil
	}
	page := reportPage{Project: p, Reasons: reportReasons}
	if _, page.Denied, err = s.offer(r.Context(), s.actor(v), policy.ReportProject, p, policy.Target{}); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "report", "Report "+p.Name, page, "")
}

// Report files a report: the policy decides who may, the per-user limit bounds how many mails the administrators
// get from one account, and the history keeps it.
func (s *Site) Report(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{back: reportPath(r.PathValue("name"))})
	if v == nil {
		return err
	}
	p, err := s.reported(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := s.policy.Decide(ctx, s.actor(v), policy.ReportProject, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
		return err
	}
	reason, ok := reasonOf(r.PostForm.Get("reason"))
	if !ok {
		return errReportReason
	}
	// One line: the text goes into the history, whose rows are lines, and into a mail.
	text := strings.Join(strings.Fields(r.PostForm.Get("text")), " ")
	if text == "" || utf8.RuneCountInString(text) > maxReportText {
		return errReportText
	}
	d, err := s.hit(ctx, []keyed{{strconv.FormatInt(v.account.ID, 10), []ratelimit.Rule{s.rules.ReportUserHour, s.rules.ReportUserDay}}})
	if err != nil {
		return errLimiter(err)
	}
	if !d.Allowed {
		return tooMany(d, "reports from your account")
	}
	// The history is where the report is kept: without it there is no report, so its failure fails the request.
	if err := s.audit.Record(ctx, audit.ProjectReported, v.account.ID, p.ID, requestOf(r),
		fmt.Sprintf("%s reported as %s: %s", p.Name, reason, text)); err != nil {
		return err
	}
	admins, err := s.db.AdminAddresses(ctx)
	if err != nil {
		// The report is kept and listed for the administrators; only its mail is lost.
		s.log.Error("report not mailed: administrators not read", "err", err)
	}
	for _, to := range admins {
		m, err := s.letters.ProjectReported(to, p.Name, v.account.Username, reason, text, s.baseURL+"/admin/reports/")
		s.queue(notify.KindProjectReported, m, err)
	}
	redirect(w, r, "/project/"+url.PathEscape(p.Name)+"/?notice=reported")
	return nil
}

// reasonOf checks a posted reason against the ones the form offers.
func reasonOf(value string) (string, bool) {
	for _, rr := range reportReasons {
		if rr.Value == value {
			return value, true
		}
	}
	return "", false
}

type reportsPageData struct {
	Reports []store.Event
	// Older is the address of the page of older reports, "" when there are none; Newest links back to the first
	// page from any other.
	Older  string
	Newest bool
}

// AdminReports lists the reports of projects for the administrators, newest first, a page at a time.
func (s *Site) AdminReports(w http.ResponseWriter, r *http.Request) error {
	v, err := s.page(w, r, policy.ViewReports)
	if v == nil {
		return err
	}
	var before int64
	if b := r.URL.Query().Get("before"); b != "" {
		if before, err = strconv.ParseInt(b, 10, 64); err != nil || before <= 0 {
			return httperror.New(http.StatusBadRequest, "This page of reports does not exist: go back to the newest reports at /admin/reports/.")
		}
	}
	// One more than a page says whether there is a page after it.
	reports, err := s.db.EventsOfKind(r.Context(), audit.ProjectReported, before, reportsPage+1)
	if err != nil {
		return err
	}
	page := reportsPageData{Reports: reports, Newest: before != 0}
	if len(reports) > reportsPage {
		page.Reports = reports[:reportsPage]
		page.Older = "/admin/reports/?before=" + strconv.FormatInt(page.Reports[reportsPage-1].ID, 10)
	}
	return s.render(w, r, http.StatusOK, "admin_reports", "Reports of projects", page, "")
}
