package server

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// WithBaseURL names the site's public address (WHARF_BASE_URL). When its host is a loopback name (localhost, the
// default), a browser that opens a page through another loopback name on the same port (127.0.0.1, [::1]) is
// redirected to the base URL. Security keys and passkeys are bound to the relying party ID, which is the base
// URL's host: on 127.0.0.1 the browser refuses them with a message that names neither, and the session cookie
// set on one name is not sent to the other.
func WithBaseURL(base string) Option { return func(s *Server) { s.loopback = newLoopbackSite(base) } }

// loopbackSite is the base URL when its host is a loopback name; nil otherwise, which redirects nothing.
type loopbackSite struct {
	scheme, host string // the redirects' target: the base URL's scheme and host:port
	name, port   string // the base URL's host name and port, the scheme's default when it names none
}

func newLoopbackSite(base string) *loopbackSite {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !isLoopbackName(u.Hostname()) {
		return nil
	}
	return &loopbackSite{scheme: u.Scheme, host: u.Host, name: u.Hostname(), port: portOr(u.Port(), u.Scheme == "https")}
}

// clientPaths are the APIs of pip, twine, CI jobs, secret scanners, Prometheus and health checks. They answer on every name as
// before: a client pointed at 127.0.0.1 must keep working, and an upload's POST cannot follow a redirect anyway.
var clientPaths = []string{"/simple/", "/pypi/", "/packages/", "/legacy/", "/_/", "/metrics", "/healthz", "/readyz"}

func isClientPath(p string) bool {
	for _, prefix := range clientPaths {
		if strings.HasPrefix(p, prefix) || p == strings.TrimSuffix(prefix, "/") {
			return true
		}
	}
	return false
}

// redirect sends GET and HEAD requests for pages that arrived through another loopback name than the base URL's,
// on its port, to the same path and query on the base URL. The target's scheme and host are always the
// configured ones, never the request's, so no Host header can make this an open redirect. Other methods pass: a
// form posted on 127.0.0.1 came from a page shown there, which is already past this.
func (l *loopbackSite) redirect(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) || isClientPath(r.URL.Path) || !l.otherName(r) {
			next.ServeHTTP(w, r)
			return
		}
		target := url.URL{Scheme: l.scheme, Host: l.host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		// Permanent, but not remembered: a browser must not keep sending 127.0.0.1 to localhost once this
		// server, or its configuration, is gone.
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target.String(), http.StatusPermanentRedirect)
	})
}

// otherName reports a request whose Host is a loopback name other than the base URL's, with the base URL's port.
func (l *loopbackSite) otherName(r *http.Request) bool {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(r.Host, "["), "]"), ""
	}
	return portOr(port, r.TLS != nil) == l.port && isLoopbackName(host) && !strings.EqualFold(host, l.name)
}

func portOr(port string, https bool) string {
	switch {
	case port != "":
		return port
	case https:
		return "443"
	}
	return "80"
}

// isLoopbackName reports the names under which a browser reaches this machine's loopback interface.
func isLoopbackName(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
