package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"wharf/internal/accounts"
	"wharf/internal/audit"
	"wharf/internal/notify"
	"wharf/internal/store"
)

type loginForm struct {
	Username string
	Next     string
}

// maxUsername bounds what a login form takes as a name: a username is at most 50 characters, and an address
// typed by mistake at most 254.
const maxUsername = 254

// LoginForm is the sign-in page.
func (s *Site) LoginForm(w http.ResponseWriter, r *http.Request) error {
	next := r.URL.Query().Get("next")
	if signedIn(r) != nil {
		redirect(w, r, afterLogin(next))
		return nil
	}
	f := loginForm{}
	if p, ok := localPath(next); ok {
		f.Next = p
	}
	return s.render(w, r, http.StatusOK, "login", "Sign in", f, "")
}

// Login checks a username and password. Every refusal looks the same (status, page, and the time accounts takes)
// whether the account is unknown, disabled or the password wrong (R4). Failures count per account name, per IP
// and globally, and once a limit holds even the right password is refused until the window passes (R1).
func (s *Site) Login(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := loginForm{Username: strings.TrimSpace(r.PostForm.Get("username"))}
	if p, ok := localPath(r.PostForm.Get("next")); ok {
		f.Next = p
	}
	if len(f.Username) > maxUsername {
		f.Username = f.Username[:maxUsername]
	}
	ctx := r.Context()
	counters := s.loginCounters(f.Username, clientIP(r))
	d, err := s.check(ctx, counters)
	if err != nil {
		return errLimiter(err)
	}
	if !d.Allowed {
		return tooMany(d, "failed sign-in attempts")
	}
	acct, err := s.users.Login(ctx, f.Username, r.PostForm.Get("password"), requestOf(r))
	if errors.Is(err, accounts.ErrBadCredentials) {
		s.failed(ctx, counters)
		return s.render(w, r, http.StatusBadRequest, "login", "Sign in", f, "The username or password is not correct.")
	}
	if err != nil {
		return err
	}
	if err := s.limiter.Reset(ctx, f.Username, s.rules.LoginAccount); err != nil {
		s.log.Error("rate limiter", "err", err)
	}
	has2FA, err := s.hasSecondFactor(ctx, acct.ID)
	if err != nil {
		return err
	}
	if has2FA {
		// Half-logged-in (S3): the session can do nothing but the second step, and dies within minutes.
		if err := s.startSessionAt(w, r, acct.ID, accounts.LevelPassword, accounts.WithoutKey); err != nil {
			return err
		}
		redirect(w, r, twoFactorURL(f.Next))
		return nil
	}
	if err := s.startSession(w, r, acct.ID, accounts.WithoutKey); err != nil {
		return err
	}
	s.noticeNewDevice(ctx, acct, requestOf(r))
	redirect(w, r, afterLogin(f.Next))
	return nil
}

// knownDevices is how many earlier sign-ins (and the registration) are searched for the browser and address of a
// new one before its owner is told about it.
const knownDevices = 20

// noticeNewDevice mails the owner when a sign-in comes from an address and browser that none of their recent
// sign-ins came from. It needs no cookie of its own: the security history already holds both.
func (s *Site) noticeNewDevice(ctx context.Context, acct store.Account, from audit.Request) {
	events, err := s.db.Events(ctx, acct.ID, 0, 200)
	if err != nil {
		s.log.Warn("new-device check", "err", err)
		return
	}
	ip, ua := audit.Clean(from.IP, 64), audit.Clean(from.UserAgent, 512)
	skippedCurrent, earlier := false, 0
	for _, e := range events {
		if e.Kind != accounts.LoginSucceeded && e.Kind != accounts.Registered {
			continue
		}
		if !skippedCurrent && e.Kind == accounts.LoginSucceeded {
			skippedCurrent = true // the sign-in being checked, recorded by Login just now
			continue
		}
		if e.IP == ip && e.UserAgent == ua {
			return
		}
		if earlier++; earlier >= knownDevices {
			break
		}
	}
	if earlier == 0 {
		return // the first sign-in of an account made on the command line: nothing to compare with
	}
	m, err := s.letters.NewLogin(acct.Email, from.IP, from.UserAgent)
	s.queue(notify.KindNewLogin, m, err)
}

// Logout ends the session on the server (S5), so that a copy of the cookie is refused afterwards.
func (s *Site) Logout(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	v := anySession(r)
	if v == nil {
		s.clearCookie(w)
		redirect(w, r, "/")
		return nil
	}
	// A complete session shows its forms with a CSRF token, so a logout must carry it: otherwise any site could
	// sign its visitors out. A half-logged-in session has no forms yet; ending it only helps.
	if v.session.Full() && !v.session.CheckCSRF(r.PostForm.Get("csrf_token")) {
		return errCSRF
	}
	if err := s.sessions.Logout(r.Context(), v.token, requestOf(r)); err != nil {
		return err
	}
	s.clearCookie(w)
	redirect(w, r, "/?notice=signed-out")
	return nil
}

type reauthForm struct {
	Next    string
	Minutes int
	// With is the second factor the form asks for besides the password: "key" (the key button), "code" (a code
	// from the authenticator app or a recovery code), or "" for an account without one. TOTP and Keys say which
	// factors the account has, so that the page can offer the other.
	With string
	TOTP bool
	Keys bool
}

// newReauthForm builds the form for the factors of the user. An account with a key is asked for it unless it asked
// for a code (with): a key's answer cannot be phished, and it marks the session as one that proved a key.
func (s *Site) newReauthForm(ctx context.Context, userID int64, next, with string) (reauthForm, error) {
	f := reauthForm{Next: afterLogin(next), Minutes: int(s.sudoWindow.Minutes())}
	var err error
	if f.TOTP, f.Keys, err = s.secondFactors(ctx, userID); err != nil {
		return reauthForm{}, err
	}
	switch {
	case f.Keys && with != "code":
		f.With = "key"
	case f.Keys || f.TOTP:
		f.With = "code"
	}
	return f, nil
}

// ReauthForm asks a signed-in user for their password before a sensitive action (S8), with one second factor.
func (s *Site) ReauthForm(w http.ResponseWriter, r *http.Request) error {
	v, err := s.page(w, r, "")
	if v == nil {
		return err
	}
	q := r.URL.Query()
	f, err := s.newReauthForm(r.Context(), v.account.ID, q.Get("next"), q.Get("with"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "reauth", "Confirm your password", f, "")
}

// Reauth checks the password of the session's own user (never another account's) and, when the account has a
// second factor, one of them too (a password alone is what a phisher has), then opens the sudo window. Password
// failures count like failed logins, so that a stolen session is no way to guess the password. A wrong answer
// shows the form again with the reason in it.
func (s *Site) Reauth(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{back: "/manage/account/"})
	if v == nil {
		return err
	}
	ctx := r.Context()
	f, err := s.newReauthForm(ctx, v.account.ID, r.PostForm.Get("next"), r.PostForm.Get("with"))
	if err != nil {
		return err
	}
	refuse := func(msg string) error {
		return s.render(w, s.Refused(r, "/account/reauthenticate/", http.StatusBadRequest, msg), http.StatusBadRequest,
			"reauth", "Confirm your password", f, "")
	}
	counters := s.loginCounters(v.account.Username, clientIP(r))
	d, err := s.check(ctx, counters)
	if err != nil {
		return errLimiter(err)
	}
	if !d.Allowed {
		return tooMany(d, "failed password attempts")
	}
	err = s.users.ConfirmPassword(ctx, v.account.ID, r.PostForm.Get("password"), requestOf(r))
	if errors.Is(err, accounts.ErrWrongPassword) {
		s.failed(ctx, counters)
		return refuse("The password is not correct.")
	}
	if err != nil {
		return err
	}
	var p proof
	if f.With != "" {
		var msg string
		p, msg, err = s.checkProof(ctx, r, v)
		if err != nil {
			return err
		}
		if msg != "" {
			return refuse(msg)
		}
	}
	if _, err := s.sessions.Reauthenticate(ctx, v.token, p.key); err != nil {
		return err
	}
	if p.recovery {
		m, err := s.letters.RecoveryCodeUsed(v.account.Email, p.remaining)
		s.queue(notify.KindRecoveryUsed, m, err)
		return s.render(w, r, http.StatusOK, "recovery_used", "Recovery code used",
			recoveryUsedPage{Remaining: p.remaining, Next: f.Next, Reauth: true}, "")
	}
	redirect(w, r, f.Next)
	return nil
}
