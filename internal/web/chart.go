package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// lineChart is a chart of percentages (0 to 100) by day, drawn as inline SVG on the server: no script, no
// external file, readable by a screen reader through its title and description.
type lineChart struct {
	ID     string      // the svg element's id; its title's and description's ids derive from it
	Title  string      // shown above the plot, and the chart's accessible name
	Days   []time.Time // ascending; the days in between that have no value show as a straight line
	Series []chartSeries
}

// chartSeries is one line: a value per day of lineChart.Days, NaN where there is none (the line breaks there).
type chartSeries struct {
	Name   string
	Values []float64
}

// The chart's geometry, in the viewBox's units: the plot area is [chartLeft, chartRight] x [chartTop, chartBottom].
const (
	chartWidth  = 960
	chartHeight = 300
	chartLeft   = 56
	chartRight  = chartWidth - 48
	chartTop    = 64
	chartBottom = chartHeight - 40
	// chartMarkers: with at most this many days every value gets a dot; a line of hundreds of days is clearer
	// without.
	chartMarkers = 62
)

// chartColors are the series' colours, distinct for the common forms of colour blindness.
var chartColors = []string{"#0b5cad", "#d97706", "#0f766e", "#9333ea"}

// x is where day falls on the horizontal axis: days are placed by date between the first and the last; a single
// day stands in the middle.
func (c lineChart) x(day time.Time) float64 {
	first, last := c.Days[0], c.Days[len(c.Days)-1]
	span := last.Sub(first)
	if span <= 0 {
		return (chartLeft + chartRight) / 2
	}
	return chartLeft + float64(day.Sub(first))/float64(span)*(chartRight-chartLeft)
}

// y is where a percentage falls on the vertical axis; values outside 0-100 are held to it.
func chartY(v float64) float64 {
	v = math.Max(0, math.Min(100, v))
	return chartBottom - v/100*(chartBottom-chartTop)
}

// SVG draws the chart.
func (c lineChart) SVG() template.HTML {
	var b strings.Builder
	esc := template.HTMLEscapeString
	titleID, descID := c.ID+"-title", c.ID+"-desc"
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="%s %s" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif">`,
		esc(c.ID), chartWidth, chartHeight, chartWidth, chartHeight, esc(titleID), esc(descID))
	fmt.Fprintf(&b, `<title id="%s">%s</title><desc id="%s">%s</desc>`, esc(titleID), esc(c.Title), esc(descID), esc(c.description()))
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`, chartWidth, chartHeight)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="17" font-weight="600" fill="#1d2433">%s</text>`, chartLeft, esc(c.Title))

	// The legend, under the title.
	lx := float64(chartLeft)
	for i, s := range c.Series {
		color := chartColors[i%len(chartColors)]
		fmt.Fprintf(&b, `<line x1="%.1f" y1="43" x2="%.1f" y2="43" stroke="%s" stroke-width="3"/>`, lx, lx+22, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="47" font-size="13" fill="#1d2433">%s</text>`, lx+28, esc(s.Name))
		lx += 28 + 7.5*float64(len([]rune(s.Name))) + 28
	}

	// The vertical axis: 0 to 100 %, a grid line every 25.
	for v := 0; v <= 100; v += 25 {
		y := chartY(float64(v))
		stroke, width := "#dfe3ea", "1"
		if v == 0 {
			stroke, width = "#5b6577", "1.5"
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="%s"/>`, chartLeft, y, chartRight, y, stroke, width)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="12" fill="#5b6577" text-anchor="end">%d %%</text>`, chartLeft-8, y+4, v)
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#5b6577" stroke-width="1.5"/>`, chartLeft, chartTop, chartLeft, chartBottom)

	if len(c.Days) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="14" fill="#5b6577" text-anchor="middle">No days recorded yet.</text>`,
			(chartLeft+chartRight)/2, (chartTop+chartBottom)/2)
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}

	// The horizontal axis: at most six dates, evenly spread over the days' span.
	for _, day := range c.ticks() {
		x := c.x(day)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#5b6577" stroke-width="1"/>`, x, chartBottom, x, chartBottom+5)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12" fill="#5b6577" text-anchor="middle">%s</text>`,
			x, chartBottom+20, day.Format(time.DateOnly))
	}

	// The lines: one polyline per run of days with a value; a value alone between gaps, and every value of a
	// short history, is also a dot.
	for i, s := range c.Series {
		color := chartColors[i%len(chartColors)]
		var run []string
		flush := func() {
			if len(run) > 1 {
				fmt.Fprintf(&b, `<polyline data-series="%d" points="%s" fill="none" stroke="%s" stroke-width="2.5" stroke-linejoin="round" stroke-linecap="round"/>`,
					i, strings.Join(run, " "), color)
			}
			run = run[:0]
		}
		for j, day := range c.Days {
			v := math.NaN()
			if j < len(s.Values) {
				v = s.Values[j]
			}
			if math.IsNaN(v) {
				flush()
				continue
			}
			x, y := c.x(day), chartY(v)
			run = append(run, fmt.Sprintf("%.1f,%.1f", x, y))
			alone := (j == 0 || math.IsNaN(at(s.Values, j-1))) && (j == len(c.Days)-1 || math.IsNaN(at(s.Values, j+1)))
			if alone || len(c.Days) <= chartMarkers {
				r := 3.5
				if alone {
					r = 5
				}
				fmt.Fprintf(&b, `<circle data-series="%d" cx="%.1f" cy="%.1f" r="%.1f" fill="%s"><title>%s, %s: %.1f %%</title></circle>`,
					i, x, y, r, color, esc(s.Name), day.Format(time.DateOnly), v)
			}
			if len(c.Days) == 1 {
				// A single day has no line to read the value from: it is written beside its dot.
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="13" font-weight="600" fill="%s">%.1f %%</text>`, x+10, y+4, color, v)
			}
		}
		flush()
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func at(vs []float64, i int) float64 {
	if i < 0 || i >= len(vs) {
		return math.NaN()
	}
	return vs[i]
}

// ticks are the dates labelled on the horizontal axis: the first and the last day, and up to four between,
// evenly spaced by date and rounded to whole days.
func (c lineChart) ticks() []time.Time {
	first, last := c.Days[0], c.Days[len(c.Days)-1]
	span := int(last.Sub(first).Hours()/24 + 0.5)
	if span == 0 {
		return []time.Time{first}
	}
	n := min(5, span)
	out := make([]time.Time, 0, n+1)
	for i := 0; i <= n; i++ {
		out = append(out, first.AddDate(0, 0, int(math.Round(float64(i*span)/float64(n)))))
	}
	return out
}

// description says in words what the chart shows, for screen readers: the span and the latest values.
func (c lineChart) description() string {
	if len(c.Days) == 0 {
		return "Percentages from 0 to 100 by day. No days recorded yet."
	}
	first, last := c.Days[0].Format(time.DateOnly), c.Days[len(c.Days)-1].Format(time.DateOnly)
	var latest []string
	for _, s := range c.Series {
		v := at(s.Values, len(c.Days)-1)
		if math.IsNaN(v) {
			latest = append(latest, s.Name+" no value")
		} else {
			latest = append(latest, fmt.Sprintf("%s %.1f %%", s.Name, v))
		}
	}
	days := "1 day"
	if len(c.Days) > 1 {
		days = fmt.Sprintf("%d days", len(c.Days))
	}
	return fmt.Sprintf("Percentages from 0 to 100 by day, %s recorded from %s to %s. On %s: %s.",
		days, first, last, last, strings.Join(latest, ", "))
}
