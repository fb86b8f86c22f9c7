package web

import (
	"errors"
	"net/http"
	"strings"

	"wharf/internal/accounts"
	"wharf/internal/httperror"
)

// formErrors are the domain errors whose text is written for the person filling in a form; anything else is an
// internal failure that the form must not describe.
var formErrors = []error{
	accounts.ErrInvalidUsername, accounts.ErrInvalidEmail, accounts.ErrUsernameTaken, accounts.ErrEmailTaken,
	accounts.ErrPasswordTooShort, accounts.ErrPasswordTooLong, accounts.ErrPasswordInvalid,
	accounts.ErrPasswordCommon, accounts.ErrPasswordHasUsername, accounts.ErrPasswordHasEmail,
	accounts.ErrWrongPassword, accounts.ErrBadCredentials,
}

// formError returns the message of a domain refusal meant for the user.
func formError(err error) (string, bool) {
	for _, e := range formErrors {
		if errors.Is(err, e) {
			msg := err.Error()
			return strings.ToUpper(msg[:1]) + msg[1:] + ".", true
		}
	}
	return "", false
}

const errPasswordsDiffer = "The two passwords are not the same."

type registerForm struct {
	Username, Email string
	MinLength       int
}

// RegisterForm is the sign-up page.
func (s *Site) RegisterForm(w http.ResponseWriter, r *http.Request) error {
	if signedIn(r) != nil {
		redirect(w, r, "/manage/account/")
		return nil
	}
	return s.render(w, r, http.StatusOK, "register", "Create an account", registerForm{MinLength: s.minPassword}, "")
}

// Register creates an account, mails a verification link and signs the new user in. Registration mails, so it is
// limited per address and per IP (R5).
func (s *Site) Register(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	if signedIn(r) != nil {
		redirect(w, r, "/manage/account/")
		return nil
	}
	f := registerForm{Username: strings.TrimSpace(r.PostForm.Get("username")), Email: strings.TrimSpace(r.PostForm.Get("email")), MinLength: s.minPassword}
	password := r.PostForm.Get("password")
	again := func(msg string) error {
		return s.render(w, r, http.StatusBadRequest, "register", "Create an account", f, msg)
	}
	if password != r.PostForm.Get("password_confirm") {
		return again(errPasswordsDiffer)
	}
	ctx := r.Context()
	// Checked first and counted only once the account exists: a form refused for its password sends no mail and
	// must not use up the address's allowance.
	counters := s.mailCounters(f.Email, clientIP(r))
	d, err := s.check(ctx, counters)
	if err != nil {
		return errLimiter(err)
	}
	if !d.Allowed {
		return tooMany(d, "sign-ups from here or for this address")
	}
	acct, err := s.users.Register(ctx, f.Username, f.Email, password, requestOf(r))
	if msg, ok := formError(err); ok {
		return again(msg)
	}
	if err != nil {
		return err
	}
	if _, err := s.hit(ctx, counters); err != nil {
		s.log.Error("rate limiter", "err", err)
	}
	to, token, err := s.users.StartVerification(ctx, acct.ID, requestOf(r))
	if err != nil {
		return err
	}
	s.mailVerification(to, token)
	if err := s.startSession(w, r, acct.ID, accounts.WithoutKey); err != nil {
		return err
	}
	redirect(w, r, "/manage/account/?notice=registered")
	return nil
}

// verifyPage is the verification page: the button that spends the link, or, without a Token, the way to a new
// link when this one cannot work.
type verifyPage struct {
	Token string
}

// VerifyForm is where a verification link leads. Following a link must not change anything (mail scanners and
// link previews follow links too), so the page asks for one click that posts the token; a link that cannot work
// says why at once instead of offering the button.
func (s *Site) VerifyForm(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if token == "" {
		return httperror.New(http.StatusBadRequest, "This address needs the link from the verification mail.")
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.users.CheckVerifyLink(r.Context(), token); err != nil {
		return s.verifyRefused(w, r, err)
	}
	return s.render(w, r, http.StatusOK, "verify", "Verify your email address", verifyPage{Token: token}, "")
}

// Verify spends a verification link.
func (s *Site) Verify(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	_, err := s.users.Verify(r.Context(), r.PostForm.Get("token"), requestOf(r))
	if errors.Is(err, accounts.ErrLinkInvalid) {
		return s.verifyRefused(w, r, err)
	}
	if err != nil {
		return err
	}
	if signedIn(r) != nil {
		redirect(w, r, "/manage/account/?notice=email-verified")
	} else {
		redirect(w, r, "/account/login/?notice=email-verified")
	}
	return nil
}

func (s *Site) verifyRefused(w http.ResponseWriter, r *http.Request, err error) error {
	if !errors.Is(err, accounts.ErrLinkInvalid) {
		return err
	}
	return s.render(w, r, http.StatusBadRequest, "verify", "Verify your email address", verifyPage{},
		linkMessage(err, "ask for a new one on your account page"))
}

// linkMessage says why a mailed link was refused, in terms of what its holder can do about it; ask says how to get
// a new link from the page that shows the message.
func linkMessage(err error, ask string) string {
	switch {
	case errors.Is(err, accounts.ErrLinkAltered):
		return "This link is incomplete or was changed on the way: copy the whole link from the mail into the " +
			"address bar, or " + ask + "."
	case errors.Is(err, accounts.ErrLinkUsed):
		return "This link was already used, or a newer one replaced it. If you still need one, " + ask + "."
	case errors.Is(err, accounts.ErrLinkExpired):
		return "This link has expired: " + ask + "."
	}
	return "This link is no longer valid: " + ask + "."
}

// ResendVerification mails a new verification link to the signed-in user's address, within the mail limits.
func (s *Site) ResendVerification(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{back: "/manage/account/"})
	if v == nil {
		return err
	}
	ctx := r.Context()
	if !v.account.EmailVerifiedAt.IsZero() {
		redirect(w, r, "/manage/account/?notice=already-verified")
		return nil
	}
	d, err := s.hit(ctx, s.mailCounters(v.account.Email, clientIP(r)))
	if err != nil {
		return errLimiter(err)
	}
	if !d.Allowed {
		return tooMany(d, "verification mails")
	}
	to, token, err := s.users.StartVerification(ctx, v.account.ID, requestOf(r))
	if errors.Is(err, accounts.ErrAlreadyVerified) {
		redirect(w, r, "/manage/account/?notice=already-verified")
		return nil
	}
	if err != nil {
		return err
	}
	s.mailVerification(to, token)
	redirect(w, r, "/manage/account/?notice=verification-sent")
	return nil
}
