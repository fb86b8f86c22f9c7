package web

import (
	"errors"
	"net/http"
	"strings"

	"wharf/internal/accounts"
	"wharf/internal/notify"
)

type resetForm struct {
	Token     string
	MinLength int
}

// ResetForm is either the request for a reset link or, with the link's token, the choice of a new password. A
// link that cannot work says why before anyone types a password, above the form that asks for a new one.
func (s *Site) ResetForm(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if token == "" {
		return s.render(w, r, http.StatusOK, "reset_request", "Reset your password", nil, "")
	}
	// The address holds a secret: keep it out of Referer headers and caches.
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.users.CheckResetLink(r.Context(), token); err != nil {
		return s.resetRefused(w, r, err)
	}
	return s.render(w, r, http.StatusOK, "reset_password", "Choose a new password", resetForm{Token: token, MinLength: s.minPassword}, "")
}

func (s *Site) resetRefused(w http.ResponseWriter, r *http.Request, err error) error {
	if !errors.Is(err, accounts.ErrLinkInvalid) {
		return err
	}
	return s.render(w, r, http.StatusBadRequest, "reset_request", "Reset your password", nil, linkMessage(err, "ask for a new one below"))
}

// Reset handles both forms of the reset page: a form with a token sets the password, one without asks for a link.
func (s *Site) Reset(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	if r.PostForm.Has("token") {
		return s.finishReset(w, r)
	}
	return s.startReset(w, r)
}

// startReset mails a reset link when the name or address belongs to an active account, and answers exactly the
// same way when it does not (R4): the same page, the same status, and no mail sent within the request, whose
// duration would otherwise tell. Requests are limited per name or address typed and per IP (R5), whether or not
// an account exists; the mail is limited per real address as well, silently.
func (s *Site) startReset(w http.ResponseWriter, r *http.Request) error {
	who := strings.TrimSpace(r.PostForm.Get("username_or_email"))
	if who == "" || len(who) > maxUsername {
		return s.render(w, r, http.StatusBadRequest, "reset_request", "Reset your password", nil,
			"Enter the username or email address of your account.")
	}
	ctx := r.Context()
	d, err := s.hit(ctx, s.mailCounters(who, clientIP(r)))
	if err != nil {
		return errLimiter(err)
	}
	if !d.Allowed {
		return tooMany(d, "password reset requests")
	}
	acct, token, found, err := s.users.StartReset(ctx, who, requestOf(r))
	if err != nil {
		return err
	}
	if found {
		// Counted on counters of their own: were they the typed-address ones, asking by user name would make a
		// later request that types the address answer 429, which would tell that the two belong together.
		if d, err := s.limiter.Hit(ctx, acct.Email, s.rules.ResetsSentHour, s.rules.ResetsSentDay); err == nil && d.Allowed {
			s.mailReset(acct.Email, token)
		}
	}
	return s.render(w, r, http.StatusOK, "reset_sent", "Check your mail", nil, "")
}

func (s *Site) finishReset(w http.ResponseWriter, r *http.Request) error {
	token := r.PostForm.Get("token")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	again := func(msg string) error {
		return s.render(w, r, http.StatusBadRequest, "reset_password", "Choose a new password",
			resetForm{Token: token, MinLength: s.minPassword}, msg)
	}
	password := r.PostForm.Get("password")
	if password != r.PostForm.Get("password_confirm") {
		return again(errPasswordsDiffer)
	}
	acct, err := s.users.FinishReset(r.Context(), token, password, requestOf(r))
	if errors.Is(err, accounts.ErrLinkInvalid) {
		return s.resetRefused(w, r, err)
	}
	if msg, ok := formError(err); ok {
		return again(msg)
	}
	if err != nil {
		return err
	}
	m, err := s.letters.PasswordChanged(acct.Email)
	s.queue(notify.KindPasswordChanged, m, err)
	// The reset ended every session of the account; a browser signed in as someone else is signed out too, so
	// that the next sign-in is unambiguous.
	if v := anySession(r); v != nil {
		if err := s.sessions.Logout(r.Context(), v.token, requestOf(r)); err != nil {
			return err
		}
	}
	s.clearCookie(w)
	redirect(w, r, "/account/login/?notice=password-reset")
	return nil
}
