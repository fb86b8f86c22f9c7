package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"wharf/internal/accounts"
	"wharf/internal/audit"
	"wharf/internal/httperror"
	"wharf/internal/policy"
	"wharf/internal/store"
)

// visitor is the browser's session, when it has one.
type visitor struct {
	token   string // the cookie's value: never rendered, never logged
	session accounts.Session
	account store.Account
}

type visitorKey struct{}

// WithSession is the middleware that reads the session cookie of the pages' routes, and only theirs: the upload
// and index routes never look at cookies, so a cross-site form can never act there with a user's session.
// Responses vary by the cookie, and those to a signed-in browser are never stored by any cache.
func (s *Site) WithSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Cookie")
		v := s.loadVisitor(w, r)
		if v != nil {
			w.Header().Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), visitorKey{}, v)))
	})
}

func (s *Site) loadVisitor(w http.ResponseWriter, r *http.Request) *visitor {
	c, err := r.Cookie(s.cookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	sess, err := s.sessions.Lookup(r.Context(), c.Value)
	if errors.Is(err, accounts.ErrNoSession) || errors.Is(err, accounts.ErrSessionExpired) {
		s.clearCookie(w)
		return nil
	}
	if err != nil {
		// The database is away: serve the page as to a stranger rather than fail every page.
		s.log.Warn("session lookup failed", "err", err)
		return nil
	}
	acct, err := s.db.AccountByID(r.Context(), sess.UserID)
	if err != nil || acct.Disabled {
		// Disabling deletes the sessions; this covers the instant between.
		return nil
	}
	return &visitor{token: c.Value, session: sess, account: acct}
}

// signedIn returns the visitor when the session completed login. A half-logged-in session (password given, second
// factor owed) counts as nobody here: it may do nothing but the second step (S3).
func signedIn(r *http.Request) *visitor {
	v, _ := r.Context().Value(visitorKey{}).(*visitor)
	if v == nil || !v.session.Full() {
		return nil
	}
	return v
}

// anySession returns the visitor whatever the level of its session, for logout.
func anySession(r *http.Request) *visitor {
	v, _ := r.Context().Value(visitorKey{}).(*visitor)
	return v
}

func (s *Site) setCookie(w http.ResponseWriter, token string) {
	// No Expires: the cookie dies with the browser; the server ends the session at its idle and absolute limits.
	http.SetCookie(w, &http.Cookie{Name: s.cookieName, Value: token, Path: "/", HttpOnly: true,
		Secure: s.cookieSecure, SameSite: http.SameSiteLaxMode})
}

func (s *Site) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.cookieSecure, SameSite: http.SameSiteLaxMode})
}

// startSession signs a user in with a new session, replacing (and ending) whatever session the browser had, so a
// token planted before login is worth nothing after it (S2). key says a passkey signed the user in.
func (s *Site) startSession(w http.ResponseWriter, r *http.Request, userID int64, key accounts.Key) error {
	return s.startSessionAt(w, r, userID, accounts.LevelFull, key)
}

// startSessionAt is startSession at a given level: LevelPassword when a second factor is still owed (S3).
func (s *Site) startSessionAt(w http.ResponseWriter, r *http.Request, userID int64, level accounts.Level, key accounts.Key) error {
	if old := anySession(r); old != nil {
		if err := s.sessions.Logout(r.Context(), old.token, requestOf(r)); err != nil {
			return err
		}
	}
	token, _, err := s.sessions.Create(r.Context(), userID, level, key, clientIP(r), r.UserAgent())
	if err != nil {
		return err
	}
	s.setCookie(w, token)
	return nil
}

// requestOf is where a request came from, for the security history.
func requestOf(r *http.Request) audit.Request {
	return audit.Request{IP: clientIP(r), UserAgent: r.UserAgent()}
}

// clientIP is the peer address. wharf does not trust forwarding headers: behind a proxy every client shares the
// proxy's address, which makes per-IP limits stricter, never looser.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// maxFormBytes bounds a form body: the largest field is a password of at most accounts.MaxPasswordBytes.
const maxFormBytes = 64 << 10

func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return httperror.Wrap(err, http.StatusBadRequest, "The form could not be read.")
	}
	return nil
}

// errCSRF is the answer to a form whose CSRF token is missing or not this session's.
var errCSRF = httperror.New(http.StatusForbidden,
	"This form has expired or did not come from this site. Go back, reload the page and try again.")

// guard says what a state-changing form needs beyond a signed-in session with a valid CSRF token.
type guard struct {
	// action is what the form does, for the policy to decide; "" needs only a signed-in visitor. A missing
	// re-authentication sends the visitor to confirm the password and then back to back.
	action policy.Action
	back   string
}

// post checks a state-changing form: a complete login (else to the login page), a CSRF token made for this very
// session, and what g asks. It returns nil, nil when it has answered with a redirect.
func (s *Site) post(w http.ResponseWriter, r *http.Request, g guard) (*visitor, error) {
	if err := parseForm(w, r); err != nil {
		return nil, err
	}
	v := signedIn(r)
	if v == nil {
		redirect(w, r, loginURL(g.back))
		return nil, nil
	}
	if !v.session.CheckCSRF(r.PostForm.Get("csrf_token")) {
		return nil, errCSRF
	}
	if g.action != "" {
		if ok, err := s.allowed(w, r, v, g.action, g.back); !ok {
			return nil, err
		}
	}
	return v, nil
}

// allowed asks the policy whether v may take action. A missing re-authentication is answered with a redirect to
// confirm and come back to back; allowed then returns false and no error, and with a denial false and the denial,
// which the server turns into a page with its reason.
func (s *Site) allowed(w http.ResponseWriter, r *http.Request, v *visitor, action policy.Action, back string) (bool, error) {
	err := s.policy.Decide(r.Context(), s.actor(v), action, policy.Target{})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, policy.ErrReauthRequired):
		redirect(w, r, reauthURL(back))
		return false, nil
	default:
		return false, err
	}
}

// page checks a page that needs a signed-in visitor, and, when action is set, that the policy lets the visitor take
// it (the page is its form, or shows what only some may see). It returns a nil visitor when it has answered with a
// redirect (with a nil error) or was refused (with the denial).
func (s *Site) page(w http.ResponseWriter, r *http.Request, action policy.Action) (*visitor, error) {
	v := signedIn(r)
	here := r.URL.RequestURI()
	if v == nil {
		redirect(w, r, loginURL(here))
		return nil, nil
	}
	if action != "" {
		if ok, err := s.allowed(w, r, v, action, here); !ok {
			return nil, err
		}
	}
	return v, nil
}

func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func loginURL(next string) string {
	if p, ok := localPath(next); ok {
		return "/account/login/?next=" + url.QueryEscape(p)
	}
	return "/account/login/"
}

func reauthURL(next string) string {
	p, ok := localPath(next)
	if !ok {
		p = "/manage/account/"
	}
	return "/account/reauthenticate/?next=" + url.QueryEscape(p)
}

// localPath accepts a redirect target only when it is a path on this site: no scheme, no host, not
// protocol-relative ("//evil.example"), no backslash (which browsers read as a slash), no control characters or
// spaces, which browsers strip or mangle.
func localPath(next string) (string, bool) {
	if next == "" || len(next) > 2048 || next[0] != '/' || strings.HasPrefix(next, "//") {
		return "", false
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	return next, true
}

// afterLogin is where a login or re-authentication goes: the page that asked for it, or the account page.
func afterLogin(next string) string {
	if p, ok := localPath(next); ok && (!strings.HasPrefix(p, "/account/") || strings.HasPrefix(p, "/account/invitation/?")) {
		// The account flows' own pages are never a destination (no loop back to a login), except the page of a
		// mailed invitation, which an invitee opens before signing in.
		return p
	}
	return "/manage/account/"
}
