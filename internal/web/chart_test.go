package web

import (
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// svgNode is any element of the chart, with its attributes, text and children.
type svgNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []svgNode  `xml:",any"`
}

func (n svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// all returns the elements named local, in document order.
func (n svgNode) all(local string) []svgNode {
	var out []svgNode
	for _, c := range n.Children {
		if c.XMLName.Local == local {
			out = append(out, c)
		}
		out = append(out, c.all(local)...)
	}
	return out
}

func parseChart(t *testing.T, c lineChart) svgNode {
	t.Helper()
	var root svgNode
	if err := xml.Unmarshal([]byte(c.SVG()), &root); err != nil {
		t.Fatalf("the chart is not well-formed XML: %v\n%s", err, c.SVG())
	}
	if root.XMLName.Local != "svg" || root.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element %v", root.XMLName)
	}
	return root
}

type point struct{ X, Y float64 }

func points(t *testing.T, s string) []point {
	t.Helper()
	var out []point
	for _, p := range strings.Fields(s) {
		xs, ys, ok := strings.Cut(p, ",")
		x, err1 := strconv.ParseFloat(xs, 64)
		y, err2 := strconv.ParseFloat(ys, 64)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("point %q", p)
		}
		out = append(out, point{x, y})
	}
	return out
}

var approx = cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 0.06 })

// TestChartPoints: values land where the axes say, days by date (a missing day leaves its gap), 0 % on the
// bottom line and 100 % on the top one, and a day without a value breaks the line.
func TestChartPoints(t *testing.T) {
	d0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := lineChart{ID: "chart-test", Title: "Maintainers with 2FA <& friends>",
		Days: []time.Time{d0, d0.AddDate(0, 0, 1), d0.AddDate(0, 0, 3), d0.AddDate(0, 0, 4), d0.AddDate(0, 0, 6)},
		Series: []chartSeries{
			{Name: "any factor", Values: []float64{0, 50, 100, math.NaN(), 25}},
			{Name: "keys", Values: []float64{10, 10, 10, 10, 10}},
		}}
	root := parseChart(t, c)
	plotW, plotH := float64(chartRight-chartLeft), float64(chartBottom-chartTop)
	x := func(day int) float64 { return chartLeft + plotW*float64(day)/6 }
	y := func(v float64) float64 { return chartBottom - plotH*v/100 }

	lines := root.all("polyline")
	var got [][]point
	for _, l := range lines {
		got = append(got, points(t, l.attr("points")))
	}
	want := [][]point{
		{{x(0), y(0)}, {x(1), y(50)}, {x(3), y(100)}}, // the NaN on day 4 ends the first line; day 6 stands alone
		{{x(0), y(10)}, {x(1), y(10)}, {x(3), y(10)}, {x(4), y(10)}, {x(6), y(10)}},
	}
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("polylines (-want +got):\n%s", diff)
	}
	if lines[0].attr("data-series") != "0" || lines[1].attr("data-series") != "1" {
		t.Errorf("series of the lines: %s, %s", lines[0].attr("data-series"), lines[1].attr("data-series"))
	}
	// Every value is a dot in a short history: the lone one on day 6 included.
	var dots []point
	for _, c := range root.all("circle") {
		if c.attr("data-series") == "0" {
			cx, _ := strconv.ParseFloat(c.attr("cx"), 64)
			cy, _ := strconv.ParseFloat(c.attr("cy"), 64)
			dots = append(dots, point{cx, cy})
		}
	}
	if diff := cmp.Diff([]point{{x(0), y(0)}, {x(1), y(50)}, {x(3), y(100)}, {x(6), y(25)}}, dots, approx); diff != "" {
		t.Errorf("dots of series 0 (-want +got):\n%s", diff)
	}

	// The accessible name and description, with the title's text escaped.
	if got := root.all("title")[0].Text; got != c.Title {
		t.Errorf("title %q", got)
	}
	if root.attr("role") != "img" || root.attr("aria-labelledby") != "chart-test-title chart-test-desc" {
		t.Errorf("role %q, aria-labelledby %q", root.attr("role"), root.attr("aria-labelledby"))
	}
	desc := root.all("desc")[0].Text
	if !strings.Contains(desc, "from 2026-03-01 to 2026-03-07") || !strings.Contains(desc, "any factor 25.0 %, keys 10.0 %") {
		t.Errorf("description %q", desc)
	}
	// The vertical axis is labelled 0 to 100 %, the horizontal one with the first and the last day.
	var labels []string
	for _, txt := range root.all("text") {
		labels = append(labels, txt.Text)
	}
	all := strings.Join(labels, "|")
	for _, want := range []string{"|0 %|", "|100 %|", "2026-03-01", "2026-03-07", "any factor", "keys"} {
		if !strings.Contains(all, want) {
			t.Errorf("no label %q among %q", want, all)
		}
	}
}

// TestChartSizes: one day is a dot in the middle; hundreds of days are one line with at most six dates on the
// axis; no day at all says so.
func TestChartSizes(t *testing.T) {
	d0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	one := parseChart(t, lineChart{ID: "one", Title: "One", Days: []time.Time{d0},
		Series: []chartSeries{{Name: "s", Values: []float64{40}}}})
	if n := len(one.all("polyline")); n != 0 {
		t.Errorf("one day: %d polylines", n)
	}
	dots := one.all("circle")
	if len(dots) != 1 || dots[0].attr("cx") != fmt.Sprintf("%.1f", float64(chartLeft+chartRight)/2) ||
		dots[0].attr("cy") != fmt.Sprintf("%.1f", chartY(40)) {
		t.Errorf("one day: dots %+v", dots)
	}

	var days []time.Time
	var values []float64
	for i := range 400 {
		days = append(days, d0.AddDate(0, 0, i))
		values = append(values, float64(i)/4)
	}
	many := parseChart(t, lineChart{ID: "many", Title: "Many", Days: days, Series: []chartSeries{{Name: "s", Values: values}}})
	lines := many.all("polyline")
	if len(lines) != 1 || len(points(t, lines[0].attr("points"))) != 400 || len(many.all("circle")) != 0 {
		t.Errorf("400 days: %d lines, %d dots", len(lines), len(many.all("circle")))
	}
	last := points(t, lines[0].attr("points"))[399]
	if math.Abs(last.X-chartRight) > 0.06 || math.Abs(last.Y-chartY(99.75)) > 0.06 {
		t.Errorf("the last point is at %+v", last)
	}
	var dates int
	for _, txt := range many.all("text") {
		if _, err := time.Parse(time.DateOnly, txt.Text); err == nil {
			dates++
		}
	}
	if dates < 2 || dates > 6 {
		t.Errorf("400 days: %d dates on the axis", dates)
	}

	none := parseChart(t, lineChart{ID: "none", Title: "None", Series: []chartSeries{{Name: "s"}}})
	if len(none.all("polyline")) != 0 || !strings.Contains(string(lineChart{ID: "none"}.SVG()), "No days recorded yet.") {
		t.Error("an empty history does not say so")
	}
}
