package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/httperror"
	"wharf/internal/ident"
	"wharf/internal/mfa"
	"wharf/internal/notify"
	"wharf/internal/policy"
	"wharf/internal/store"
)

// historyLength is how many security events the account page shows.
const historyLength = 100

type sessionRow struct {
	accounts.Session
	Current bool
}

type accountPage struct {
	Username    string
	Email       string
	Verified    bool
	Joined      time.Time
	Sudo        bool
	SudoUntil   time.Time
	Sessions    []sessionRow
	History     []store.Event
	TokenCount  int
	MinLength   int
	ProfilePath string
	// Factors are the second factors, oldest first: App says one is an authenticator app, and Keys counts the
	// security keys and passkeys. Recovery is the unused recovery codes. MFA is false when the site has no second
	// factors.
	MFA      bool
	Factors  []mfa.Factor
	App      bool
	Keys     int
	Recovery int
	// RecoveryUnsaved reminds the owner that the newest recovery codes were never confirmed as saved.
	RecoveryUnsaved bool
	// Offer is the security-key offer's box (offer.go); nil shows none.
	Offer *keyOfferView
	// Publishing links the pending publishers' page when the site has Trusted Publishing.
	Publishing bool
}

// Account is the account page: its second factors first, then the profile and address, the password, the API
// tokens, where the account is signed in, and its security history. Changing anything here needs a recent
// re-authentication; looking does not.
func (s *Site) Account(w http.ResponseWriter, r *http.Request) error {
	v, err := s.page(w, r, "")
	if v == nil {
		return err
	}
	ctx := r.Context()
	sessions, err := s.sessions.List(ctx, v.account.ID)
	if err != nil {
		return err
	}
	history, err := s.db.Events(ctx, v.account.ID, 0, historyLength)
	if err != nil {
		return err
	}
	toks, err := s.db.TokensForUser(ctx, v.account.ID)
	if err != nil {
		return err
	}
	p := accountPage{
		Username: v.account.Username, Email: v.account.Email, Verified: !v.account.EmailVerifiedAt.IsZero(),
		Joined: v.account.CreatedAt, Sudo: v.session.Sudo(s.now(), s.sudoWindow), SudoUntil: v.session.ReauthAt.Add(s.sudoWindow),
		History: history, MinLength: s.minPassword, ProfilePath: "/user/" + v.account.Username + "/", Publishing: s.publish != nil,
	}
	if s.factors != nil {
		p.MFA = true
		if p.Factors, err = s.factors.List(ctx, v.account.ID); err != nil {
			return err
		}
		// An account has one authenticator app at most; every other factor is a security key or passkey.
		p.App, p.Keys = v.account.HasTOTP, len(p.Factors)
		if p.App {
			p.Keys--
		}
		if len(p.Factors) > 0 {
			if p.Recovery, err = s.recovery.Remaining(ctx, v.account.ID); err != nil {
				return err
			}
			p.RecoveryUnsaved = recoveryUnsaved(history)
		}
	}
	if p.Offer, err = s.keyOffer(ctx, v); err != nil {
		return err
	}
	for _, t := range toks {
		if t.RevokedAt.IsZero() {
			p.TokenCount++
		}
	}
	for _, sess := range sessions {
		p.Sessions = append(p.Sessions, sessionRow{Session: sess, Current: sess.ID == v.session.ID})
	}
	return s.render(w, r, http.StatusOK, "account", "Your account", p, "")
}

// ChangeEmail replaces the account's address. The new one must be verified; the old one is told, since it is the
// one an attacker who took the session does not control.
func (s *Site) ChangeEmail(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{action: policy.ChangeAccount, back: "/manage/account/"})
	if v == nil {
		return err
	}
	ctx := r.Context()
	newEmail := strings.TrimSpace(r.PostForm.Get("email"))
	if ident.Key(newEmail) == ident.Key(v.account.Email) {
		return httperror.New(http.StatusBadRequest, "That is already your address.")
	}
	counters := s.mailCounters(newEmail, clientIP(r))
	d, err := s.check(ctx, counters)
	if err != nil {
		return errLimiter(err)
	}
	if !d.Allowed {
		return tooMany(d, "address changes")
	}
	acct, err := s.users.ChangeEmail(ctx, v.account.ID, newEmail, requestOf(r))
	if msg, ok := formError(err); ok {
		return httperror.New(http.StatusBadRequest, "%s", msg)
	}
	if err != nil {
		return err
	}
	if _, err := s.hit(ctx, counters); err != nil {
		s.log.Error("rate limiter", "err", err)
	}
	m, err := s.letters.EmailAdded(v.account.Email, acct.Email)
	s.queue(notify.KindEmailAdded, m, err)
	to, token, err := s.users.StartVerification(ctx, acct.ID, requestOf(r))
	if err != nil {
		return err
	}
	s.mailVerification(to, token)
	redirect(w, r, "/manage/account/?notice=email-changed")
	return nil
}

// ChangePassword needs the current password as well as a recent re-authentication (P6), and ends every other
// session of the account. Wrong current passwords count like failed logins.
func (s *Site) ChangePassword(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{action: policy.ChangeAccount, back: "/manage/account/"})
	if v == nil {
		return err
	}
	ctx := r.Context()
	next := r.PostForm.Get("new_password")
	if next != r.PostForm.Get("new_password_confirm") {
		return httperror.New(http.StatusBadRequest, errPasswordsDiffer)
	}
	counters := s.loginCounters(v.account.Username, clientIP(r))
	d, err := s.check(ctx, counters)
	if err != nil {
		return errLimiter(err)
	}
	if !d.Allowed {
		return tooMany(d, "failed password attempts")
	}
	err = s.users.ChangePassword(ctx, v.account.ID, r.PostForm.Get("current_password"), next, v.token, requestOf(r))
	if errors.Is(err, accounts.ErrWrongPassword) {
		s.failed(ctx, counters)
		return httperror.New(http.StatusBadRequest, "The current password is not correct.")
	}
	if msg, ok := formError(err); ok {
		return httperror.New(http.StatusBadRequest, "%s", msg)
	}
	if err != nil {
		return err
	}
	m, err := s.letters.PasswordChanged(v.account.Email)
	s.queue(notify.KindPasswordChanged, m, err)
	redirect(w, r, "/manage/account/?notice=password-changed")
	return nil
}

// EndSession signs out one session of the user's, by the handle the page lists. Another user's session is not
// found, exactly like a missing one (K4).
func (s *Site) EndSession(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{back: "/manage/account/"})
	if v == nil {
		return err
	}
	id := r.PostForm.Get("session_id")
	err = s.sessions.End(r.Context(), v.account.ID, id, requestOf(r))
	if errors.Is(err, accounts.ErrNoSession) {
		return httperror.New(http.StatusNotFound, "There is no such session: it may have ended already.")
	}
	if err != nil {
		return err
	}
	if id == v.session.ID {
		s.clearCookie(w)
		redirect(w, r, "/?notice=signed-out")
		return nil
	}
	redirect(w, r, "/manage/account/?notice=session-ended")
	return nil
}

// EndOtherSessions signs out every session of the account but this one. It needs a recent re-authentication, so
// that someone who stole a session cannot use it to sign the owner out.
func (s *Site) EndOtherSessions(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{action: policy.ChangeAccount, back: "/manage/account/"})
	if v == nil {
		return err
	}
	if _, err := s.sessions.LogoutEverywhere(r.Context(), v.account.ID, v.token, requestOf(r)); err != nil {
		return err
	}
	redirect(w, r, "/manage/account/?notice=signed-out-others")
	return nil
}
