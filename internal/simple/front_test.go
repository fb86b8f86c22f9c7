package simple

import (
	"net/http"
	"strings"
	"testing"

	"wharf/internal/front/fronttest"
	"wharf/internal/store/storetest"
)

// TestFrontServesTheSame sends the read API's requests, as installers send them, to the index's routes behind
// net/http alone and behind internal/front's loop, and requires the same bytes from both (docs/security.md, F7).
func TestFrontServesTheSame(t *testing.T) {
	fx := newFixture(t, storetest.Engine{Name: "sqlite", Open: storetest.OpenSQLite})
	const name = "demo_pkg-1.10-py3-none-any.whl"
	sha := fx.blobs.put(fx.content[name])
	file := "/packages/" + sha[:2] + "/" + sha[2:4] + "/" + sha[4:] + "/" + name
	page := fx.get(t, "/simple/demo-pkg/", "Accept-Encoding: gzip")
	wantStatus(t, page, http.StatusOK)
	etag := page.Header().Get("Etag")

	p := fronttest.NewPair(t, fx.mux, func(string) bool { return true }, nil)
	pip := "Accept: application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01\r\n" +
		"Accept-Encoding: gzip, deflate\r\nUser-Agent: pip/24.0\r\nConnection: keep-alive\r\n"
	req := func(method, target string, headers ...string) string {
		return method + " " + target + " HTTP/1.1\r\nHost: wharf.example\r\n" + strings.Join(headers, "") + "\r\n"
	}
	get := func(target string, headers ...string) string { return req("GET", target, headers...) }
	c := func(name, raw string, methods ...string) fronttest.Case {
		loops := make([]string, strings.Count(raw, " HTTP/1.1\r\n"))
		for i := range loops {
			loops[i] = "front"
		}
		return fronttest.Case{Name: name, Raw: raw, Methods: methods, Loops: loops}
	}
	p.Run(t, []fronttest.Case{
		c("page as pip asks", get("/simple/demo-pkg/", pip)),
		c("page as HTML", get("/simple/demo-pkg/")),
		c("page gzip", get("/simple/demo-pkg/", "Accept-Encoding: gzip\r\n")),
		c("page JSON by query", get("/simple/demo-pkg/?format=application/vnd.pypi.simple.v1+json")),
		c("page not modified", get("/simple/demo-pkg/", "Accept-Encoding: gzip\r\n", "If-None-Match: "+etag+"\r\n")),
		c("page HEAD", req("HEAD", "/simple/demo-pkg/", pip), "HEAD"),
		c("page not acceptable", get("/simple/demo-pkg/", "Accept: image/png\r\n")),
		c("page by another name", get("/simple/Demo_Pkg/")),
		c("page missing", get("/simple/no-such-project/", pip)),
		c("root", get("/simple/")),
		c("root as pip asks", get("/simple/", pip)),
		c("root HEAD", req("HEAD", "/simple/"), "HEAD"),
		c("JSON API", get("/pypi/demo-pkg/json")),
		c("JSON API release", get("/pypi/demo-pkg/1.10/json")),
		c("JSON API missing release", get("/pypi/demo-pkg/9.9/json")),
		c("JSON API HEAD", req("HEAD", "/pypi/demo-pkg/json"), "HEAD"),
		c("file", get(file)),
		c("file range", get(file, "Range: bytes=3-9\r\n")),
		c("file HEAD", req("HEAD", file), "HEAD"),
		c("file missing", get("/packages/00/00/0000/nothing.whl")),
		c("an install's requests on one connection",
			get("/simple/demo-pkg/", pip)+get("/simple/other/", pip)+get(file)+req("HEAD", "/pypi/other/json")+get("/simple/", pip),
			"GET", "GET", "GET", "HEAD", "GET"),
	})
}
