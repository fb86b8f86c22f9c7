package web

import (
	"context"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"time"

	"wharf/internal/adoption"
	"wharf/internal/policy"
	"wharf/internal/store"
)

// Adoption is what the dashboard reads; *adoption.Tracker satisfies it.
type Adoption interface {
	// Current is the figures now, with the uploads of the last adoption.RecentUploads.
	Current(ctx context.Context) (store.Adoption, error)
	// History is the recorded days of the last days days, oldest first.
	History(ctx context.Context, days int) ([]store.AdoptionDay, error)
	// Critical lists the critical projects with their maintainers who have no second factor.
	Critical(ctx context.Context) ([]store.CriticalCoverage, error)
}

const (
	// dashboardDays is how much history the charts draw.
	dashboardDays = 365
	// criticalShown bounds the table of critical projects; the most exposed come first.
	criticalShown = 500
)

type dashboardPage struct {
	At       time.Time
	Figures  []dashboardFigure
	Charts   []template.HTML
	Days     int // days recorded in the charts' span
	Critical []store.CriticalCoverage
	// Hidden counts the critical projects left out of the table; Exposed those with an unprotected maintainer.
	Hidden, Exposed, CriticalProjects int
}

// dashboardFigure is one of the current figures: N of Of, as a share.
type dashboardFigure struct {
	ID, Label string
	N, Of     int64
	Share     string // "42.0 %", or "–" when Of is 0
	Unit      string // what N and Of count
}

// Dashboard is the administrators' view of how far second factors have spread (M2: guarded by the policy's
// ViewAdmin like every administration page): the figures now, their history as charts, and the critical projects
// whose maintainers are not all protected.
func (s *Site) Dashboard(w http.ResponseWriter, r *http.Request) error {
	v, err := s.page(w, r, policy.ViewAdmin)
	if v == nil {
		return err
	}
	if s.adoption == nil {
		return errNotFound
	}
	ctx := r.Context()
	cur, err := s.adoption.Current(ctx)
	if err != nil {
		return err
	}
	history, err := s.adoption.History(ctx, dashboardDays)
	if err != nil {
		return err
	}
	critical, err := s.adoption.Critical(ctx)
	if err != nil {
		return err
	}
	p := dashboardPage{At: s.now().UTC(), Days: len(history), CriticalProjects: len(critical)}
	p.Figures = []dashboardFigure{
		figure("maintainers-2fa", "Maintainers with a second factor", cur.MaintainersWith2FA, cur.Maintainers, "maintainers"),
		figure("maintainers-webauthn", "Maintainers with a security key or passkey", cur.MaintainersWithWebAuthn, cur.Maintainers, "maintainers"),
		figure("critical-2fa", "Critical projects' maintainers with a second factor", cur.CriticalMaintainersWith2FA, cur.CriticalMaintainers, "maintainers"),
		figure("critical-webauthn", "Critical projects' maintainers with a security key or passkey", cur.CriticalMaintainersWithWebAuthn, cur.CriticalMaintainers, "maintainers"),
		figure("uploads-2fa", "Uploads of the last 24 hours by accounts with a second factor", cur.UploadsWith2FA, cur.Uploads, "uploads"),
	}
	p.Charts = adoptionCharts(history)
	for _, c := range critical {
		if len(c.Unprotected) > 0 {
			p.Exposed++
		}
	}
	if len(critical) > criticalShown {
		p.Hidden, critical = len(critical)-criticalShown, critical[:criticalShown]
	}
	p.Critical = critical
	return s.render(w, r, http.StatusOK, "dashboard", "2FA adoption", p, "")
}

func figure(id, label string, n, of int64, unit string) dashboardFigure {
	return dashboardFigure{ID: id, Label: label, N: n, Of: of, Share: percent(adoption.Share(n, of)), Unit: unit}
}

// percent writes a share as "42.0 %", and no share as a dash.
func percent(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", v)
}

// adoptionCharts draws the history: the maintainers, the critical projects' maintainers, and the uploads.
func adoptionCharts(history []store.AdoptionDay) []template.HTML {
	days := make([]time.Time, len(history))
	series := func(name string, share func(a store.Adoption) float64) chartSeries {
		s := chartSeries{Name: name, Values: make([]float64, len(history))}
		for i, d := range history {
			s.Values[i] = share(d.Adoption)
		}
		return s
	}
	for i, d := range history {
		days[i] = d.Day
	}
	charts := []lineChart{
		{ID: "chart-maintainers", Title: "Maintainers with second factors", Days: days, Series: []chartSeries{
			series("Any second factor", func(a store.Adoption) float64 { return adoption.Share(a.MaintainersWith2FA, a.Maintainers) }),
			series("Security key or passkey", func(a store.Adoption) float64 {
				return adoption.Share(a.MaintainersWithWebAuthn, a.Maintainers)
			}),
		}},
		{ID: "chart-critical", Title: "Critical projects' maintainers with second factors", Days: days, Series: []chartSeries{
			series("Any second factor", func(a store.Adoption) float64 {
				return adoption.Share(a.CriticalMaintainersWith2FA, a.CriticalMaintainers)
			}),
			series("Security key or passkey", func(a store.Adoption) float64 {
				return adoption.Share(a.CriticalMaintainersWithWebAuthn, a.CriticalMaintainers)
			}),
		}},
		{ID: "chart-uploads", Title: "Uploads by accounts with a second factor", Days: days, Series: []chartSeries{
			series("Share of the day's uploads", func(a store.Adoption) float64 { return adoption.Share(a.UploadsWith2FA, a.Uploads) }),
		}},
	}
	out := make([]template.HTML, len(charts))
	for i, c := range charts {
		out[i] = c.SVG()
	}
	return out
}
