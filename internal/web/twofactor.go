package web

import (
	"encoding/base32"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"wharf/internal/accounts"

	"wharf/internal/httperror"
	"wharf/internal/mfa"
	"wharf/internal/notify"
	"wharf/internal/ratelimit"
)

// totpLabel is how mails and the page name an authenticator app.
const totpLabel = "authenticator app"

type totpPage struct {
	Enrolled  bool
	KeyURI    string // only while enrolling, right after Begin
	Secret    string // base32, only while enrolling
	Remaining int    // unused recovery codes, when enrolled
	Confirm   bool   // show the confirmation form
}

type recoveryPage struct {
	Codes []string
}

// errNoMFA answers the second-factor routes of a site built without the mfa services.
var errNoMFA = httperror.New(http.StatusNotFound, "Second factors are not enabled on this index.")

// TOTPPage shows the authenticator app of the account, or a button that starts an enrolment. It needs a recent
// re-authentication. Looking writes nothing: the enrolment starts with a POST (BeginTOTP).
func (s *Site) TOTPPage(w http.ResponseWriter, r *http.Request) error {
	if s.totp == nil {
		return errNoMFA
	}
	v := s.page(w, r, true)
	if v == nil {
		return nil
	}
	ctx := r.Context()
	enrolled, err := s.totp.Enrolled(ctx, v.account.ID)
	if err != nil {
		return err
	}
	p := totpPage{Enrolled: enrolled}
	if enrolled {
		if p.Remaining, err = s.recovery.Remaining(ctx, v.account.ID); err != nil {
			return err
		}
	}
	return s.render(w, r, http.StatusOK, "totp", "Authenticator app", p, "")
}

// BeginTOTP starts an enrolment and shows the key URI and the secret, this once (T5): starting again makes a new
// secret and voids the unconfirmed one.
func (s *Site) BeginTOTP(w http.ResponseWriter, r *http.Request) error {
	if s.totp == nil {
		return errNoMFA
	}
	v, err := s.post(w, r, guard{sudo: true, back: "/manage/account/totp/"})
	if v == nil {
		return err
	}
	secret, uri, err := s.totp.Begin(r.Context(), v.account.ID, v.account.Username)
	if errors.Is(err, mfa.ErrAlreadyEnrolled) {
		redirect(w, r, "/manage/account/totp/")
		return nil
	}
	if err != nil {
		return err
	}
	p := totpPage{KeyURI: uri, Secret: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret), Confirm: true}
	return s.render(w, r, http.StatusOK, "totp", "Authenticator app", p, "")
}

// ConfirmTOTP activates the enrolment in progress when the code is right (T5), then shows a new set of recovery
// codes, once (L1). A code that is right only on a device whose clock is off says so.
func (s *Site) ConfirmTOTP(w http.ResponseWriter, r *http.Request) error {
	if s.totp == nil {
		return errNoMFA
	}
	v, err := s.post(w, r, guard{sudo: true, back: "/manage/account/totp/"})
	if v == nil {
		return err
	}
	ctx := r.Context()
	err = s.totp.Confirm(ctx, v.account.ID, r.PostForm.Get("code"), requestOf(r))
	var skew *mfa.SkewError
	switch {
	case errors.As(err, &skew):
		min := int(math.Round(math.Abs(skew.Offset.Minutes())))
		if min < 1 {
			min = 1
		}
		dir := "ahead"
		if skew.Offset < 0 {
			dir = "behind"
		}
		return s.render(w, r, http.StatusBadRequest, "totp", "Authenticator app", totpPage{Confirm: true},
			fmt.Sprintf("That code is not valid now, but it would be if your device's clock were right: your device's clock is off by about %d minutes (%s). Correct the clock and enter a new code.", min, dir))
	case errors.Is(err, mfa.ErrWrongCode):
		return s.render(w, r, http.StatusBadRequest, "totp", "Authenticator app", totpPage{Confirm: true},
			"That code is not correct. Enter the code your app shows now.")
	case errors.Is(err, mfa.ErrNoEnrolment):
		return s.render(w, r, http.StatusBadRequest, "totp", "Authenticator app", totpPage{},
			"The setup has lapsed. Start again.")
	case errors.Is(err, mfa.ErrAlreadyEnrolled):
		redirect(w, r, "/manage/account/totp/")
		return nil
	case err != nil:
		return err
	}
	m, err := s.letters.FactorAdded(v.account.Email, totpLabel)
	s.queue(notify.KindFactorAdded, m, err)
	codes, err := s.recovery.Regenerate(ctx, v.account.ID, requestOf(r))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "recovery_codes", "Your recovery codes", recoveryPage{Codes: codes}, "")
}

// RemoveTOTP removes the authenticator app (T6: re-authentication, an audit event, a mail).
func (s *Site) RemoveTOTP(w http.ResponseWriter, r *http.Request) error {
	if s.totp == nil {
		return errNoMFA
	}
	v, err := s.post(w, r, guard{sudo: true, back: "/manage/account/totp/"})
	if v == nil {
		return err
	}
	err = s.totp.Remove(r.Context(), v.account.ID, requestOf(r))
	if errors.Is(err, mfa.ErrNotEnrolled) {
		return httperror.New(http.StatusNotFound, "There is no authenticator app on this account.")
	}
	if err != nil {
		return err
	}
	m, err := s.letters.FactorRemoved(v.account.Email, totpLabel)
	s.queue(notify.KindFactorRemoved, m, err)
	redirect(w, r, "/manage/account/?notice=totp-removed")
	return nil
}

// RegenerateRecovery replaces the recovery codes (L3: the old set dies) and shows the new ones, once.
func (s *Site) RegenerateRecovery(w http.ResponseWriter, r *http.Request) error {
	if s.totp == nil {
		return errNoMFA
	}
	v, err := s.post(w, r, guard{sudo: true, back: "/manage/account/totp/"})
	if v == nil {
		return err
	}
	enrolled, err := s.totp.Enrolled(r.Context(), v.account.ID)
	if err != nil {
		return err
	}
	if !enrolled {
		return httperror.New(http.StatusConflict, "Recovery codes belong to a second factor: add an authenticator app first.")
	}
	codes, err := s.recovery.Regenerate(r.Context(), v.account.ID, requestOf(r))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "recovery_codes", "Your recovery codes", recoveryPage{Codes: codes}, "")
}

// secondFactorIP limits second-factor attempts per address (R3), next to the per-user rules of ratelimit.
var secondFactorIP = ratelimit.Rule{Name: "2fa-ip-5m", Limit: 20, Window: 5 * time.Minute}

// secondFactorCounters are the counters of second-factor attempts (R3): per user, across TOTP and recovery codes,
// and per IP.
func secondFactorCounters(userID int64, ip string) []keyed {
	return []keyed{
		{"user:" + strconv.FormatInt(userID, 10), []ratelimit.Rule{ratelimit.SecondFactor5m, ratelimit.SecondFactor1h, ratelimit.SecondFactor1d}},
		{ip, []ratelimit.Rule{secondFactorIP}},
	}
}

func twoFactorURL(next string) string {
	if p, ok := localPath(next); ok {
		return "/account/two-factor/?next=" + url.QueryEscape(p)
	}
	return "/account/two-factor/"
}

type twoFactorForm struct {
	CSRF string
	Next string
}

type recoveryUsedPage struct {
	Remaining int
	Next      string
}

// halfSession is the visitor of a half-logged-in session, or nil after answering: a stranger goes to the login
// page, a complete session where it was going.
func (s *Site) halfSession(w http.ResponseWriter, r *http.Request, next string) *visitor {
	v := anySession(r)
	if v == nil || s.totp == nil {
		redirect(w, r, loginURL(next))
		return nil
	}
	if v.session.Full() {
		redirect(w, r, afterLogin(next))
		return nil
	}
	return v
}

// TwoFactorForm asks a half-logged-in session for its second factor.
func (s *Site) TwoFactorForm(w http.ResponseWriter, r *http.Request) error {
	next := r.URL.Query().Get("next")
	v := s.halfSession(w, r, next)
	if v == nil {
		return nil
	}
	f := twoFactorForm{CSRF: v.session.CSRFToken()}
	if p, ok := localPath(next); ok {
		f.Next = p
	}
	return s.render(w, r, http.StatusOK, "two_factor", "Two-factor authentication", f, "")
}

// TwoFactor finishes login with a TOTP code or a recovery code. Attempts count per user and per IP (R3), and
// while a limit holds even the right code is refused. Success replaces the session by a complete one (S2).
func (s *Site) TwoFactor(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	next := r.PostForm.Get("next")
	v := s.halfSession(w, r, next)
	if v == nil {
		return nil
	}
	if !v.session.CheckCSRF(r.PostForm.Get("csrf_token")) {
		return errCSRF
	}
	ctx := r.Context()
	f := twoFactorForm{CSRF: v.session.CSRFToken()}
	if p, ok := localPath(next); ok {
		f.Next = p
	}
	counters := secondFactorCounters(v.account.ID, clientIP(r))
	d, err := s.check(ctx, counters)
	if err != nil {
		return errLimiter(err)
	}
	if !d.Allowed {
		return tooMany(d, "second-factor attempts")
	}
	code := r.PostForm.Get("code")
	recovery := false
	remaining := 0
	if _, isRecovery := mfa.NormalizeRecoveryCode(code); isRecovery {
		recovery = true
		remaining, err = s.recovery.Use(ctx, v.account.ID, code, requestOf(r))
	} else {
		err = s.totp.Check(ctx, v.account.ID, code)
	}
	switch {
	case errors.Is(err, mfa.ErrReplay):
		s.failed(ctx, counters)
		return s.render(w, r, http.StatusBadRequest, "two_factor", "Two-factor authentication", f,
			"That code was already used. Wait for your app to show a new one.")
	case errors.Is(err, mfa.ErrWrongCode), errors.Is(err, mfa.ErrNotEnrolled):
		s.failed(ctx, counters)
		return s.render(w, r, http.StatusBadRequest, "two_factor", "Two-factor authentication", f,
			"That code is not correct.")
	case err != nil:
		return err
	}
	token, _, err := s.sessions.Rotate(ctx, v.token, accounts.LevelFull)
	if errors.Is(err, accounts.ErrNoSession) {
		redirect(w, r, loginURL(next))
		return nil
	}
	if err != nil {
		return err
	}
	s.setCookie(w, token)
	s.noticeNewDevice(ctx, v.account, requestOf(r))
	if recovery {
		m, err := s.letters.RecoveryCodeUsed(v.account.Email, remaining)
		s.queue(notify.KindRecoveryUsed, m, err)
		// The page is rendered for the old request, whose session was half: show it without the signed-in frame.
		return s.render(w, r, http.StatusOK, "recovery_used", "Recovery code used",
			recoveryUsedPage{Remaining: remaining, Next: afterLogin(next)}, "")
	}
	redirect(w, r, afterLogin(next))
	return nil
}
