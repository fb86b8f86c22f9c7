package web

import (
	"net/http"
	"strconv"
)

// iconURL is the site's icon, the header's mark on its blue: the brand colours of style.css.
var iconURL = "/static/favicon.svg?v=" + staticVersion("favicon.svg")

// Favicon answers /favicon.ico, which browsers and feed readers ask for whatever the pages link, with the SVG
// icon. Its address does not change with the file, so it is cached for a day rather than for good.
func (s *Site) Favicon(w http.ResponseWriter, r *http.Request) error {
	b, err := staticFiles.ReadFile("static/favicon.svg")
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, err = w.Write(b)
	return err
}
