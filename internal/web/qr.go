package web

import (
	"fmt"
	"html/template"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// qrSVG draws text as a QR code in SVG, inline in the page: the key URI holds the TOTP secret, so it must never be
// sent to a QR service or even to a second URL of ours that a proxy or the browser's history could keep.
// Each dark module is one unit square of a single path, which scales sharply at any size.
func qrSVG(text string) (template.HTML, error) {
	// Medium (15 %) error correction keeps a 32-character secret's URI at version 5-7, which phones read at a
	// glance from a screen; the bitmap includes the four-module quiet zone readers need.
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", fmt.Errorf("qr code: %w", err)
	}
	bits := q.Bitmap()
	n := len(bits)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges" role="img" aria-label="QR code of the key URI" class="qr">`, n, n, n*6, n*6)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bits {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			// One rectangle per horizontal run of dark modules keeps the path a few kilobytes.
			run := x
			for run < len(row) && row[run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x, y, run-x, run-x)
			x = run
		}
	}
	b.WriteString(`"/></svg>`)
	// The SVG holds only numbers and fixed markup written above, never the text itself.
	return template.HTML(b.String()), nil
}
