package web

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"wharf/internal/accounts"
	"wharf/internal/httperror"
	"wharf/internal/mfa"
	"wharf/internal/notify"
	"wharf/internal/policy"
	"wharf/internal/ratelimit"
	"wharf/internal/store"
)

// totpLabel is how mails and the page name an authenticator app.
const totpLabel = "authenticator app"

type totpPage struct {
	Enrolled bool
	// KeyURI, QR and Secret show an enrolment in progress: right after Begin, and again after a wrong code, from
	// the key URI the page posted back (T5).
	KeyURI string
	QR     template.HTML // the key URI as an inline SVG QR code
	Secret []string      // the base32 secret in groups of four, for typing it in
	// Confirm shows the form that confirms the enrolment.
	Confirm bool
	// Keys says whether the account has a security key, Remaining how many unused recovery codes it has: these
	// go with any second factor, so the page offers new ones when the account has an app or a key.
	Keys      bool
	Remaining int
}

// HasFactor reports whether the account has a second factor, which its recovery codes stand in for.
func (p totpPage) HasFactor() bool { return p.Enrolled || p.Keys }

type recoveryPage struct {
	Codes []string
	// FileName is what the download button saves the codes as.
	FileName string
}

// errNoMFA answers the second-factor routes of a site built without the mfa services.
var errNoMFA = httperror.New(http.StatusNotFound, "Second factors are not enabled on this index.")

// TOTPPage shows the authenticator app of the account, or a button that starts an enrolment, and the account's
// recovery codes. It needs a recent re-authentication. Looking writes nothing: the enrolment starts with a POST
// (BeginTOTP).
func (s *Site) TOTPPage(w http.ResponseWriter, r *http.Request) error {
	if s.totp == nil {
		return errNoMFA
	}
	v, err := s.page(w, r, policy.AddFactor)
	if v == nil {
		return err
	}
	ctx := r.Context()
	var p totpPage
	if p.Enrolled, p.Keys, err = s.secondFactors(ctx, v.account.ID); err != nil {
		return err
	}
	if p.HasFactor() {
		if p.Remaining, err = s.recovery.Remaining(ctx, v.account.ID); err != nil {
			return err
		}
	}
	return s.render(w, r, http.StatusOK, "totp", "Authenticator app", p, "")
}

// BeginTOTP starts an enrolment and shows the key URI and the secret (T5): starting again makes a new secret and
// voids the unconfirmed one.
func (s *Site) BeginTOTP(w http.ResponseWriter, r *http.Request) error {
	if s.totp == nil {
		return errNoMFA
	}
	v, err := s.post(w, r, guard{action: policy.AddFactor, back: "/manage/account/totp/"})
	if v == nil {
		return err
	}
	_, uri, err := s.totp.Begin(r.Context(), v.account.ID, r.PostForm.Get("label"))
	if errors.Is(err, mfa.ErrAlreadyEnrolled) {
		redirect(w, r, "/manage/account/totp/")
		return nil
	}
	if err != nil {
		return err
	}
	p, err := enrolmentPage(uri)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "totp", "Authenticator app", p, "")
}

// enrolmentPage shows the enrolment of key URI uri: its QR code, its secret and the form that confirms it. The
// server keeps the secret only sealed (T5), so after a wrong code the page shows again the URI its form posted
// back: whoever posts it had the page already. A URI that is not a TOTP key of ours shows the form alone.
func enrolmentPage(uri string) (totpPage, error) {
	p := totpPage{Confirm: true}
	secret, ok := keyURISecret(uri)
	if !ok {
		return p, nil
	}
	qr, err := qrSVG(uri)
	if err != nil {
		return totpPage{}, err
	}
	p.KeyURI, p.QR = uri, qr
	for len(secret) > 4 {
		p.Secret, secret = append(p.Secret, secret[:4]), secret[4:]
	}
	p.Secret = append(p.Secret, secret)
	return p, nil
}

// keyURISecret returns the base32 secret of an otpauth://totp/ URI, when it is a secret of the size mfa makes.
func keyURISecret(uri string) (string, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		return "", false
	}
	secret := u.Query().Get("secret")
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil || len(b) != mfa.SecretSize {
		return "", false
	}
	return secret, true
}

// ConfirmTOTP activates the enrolment in progress when the code is right (T5), then shows a new set of recovery
// codes, once (L1). A wrong code keeps the QR code and the secret on the page, with the reason at the code field;
// a code that is right only on a device whose clock is off says so.
func (s *Site) ConfirmTOTP(w http.ResponseWriter, r *http.Request) error {
	if s.totp == nil {
		return errNoMFA
	}
	v, err := s.post(w, r, guard{action: policy.AddFactor, back: "/manage/account/totp/"})
	if v == nil {
		return err
	}
	ctx := r.Context()
	err = s.totp.Confirm(ctx, v.account.ID, r.PostForm.Get("code"), requestOf(r))
	var (
		skew *mfa.SkewError
		msg  string
	)
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
		msg = fmt.Sprintf("That code is not valid now, but it would be if your device's clock were right: your device's clock is off by about %d minutes (%s). Correct the clock and enter a new code.", min, dir)
	case errors.Is(err, mfa.ErrWrongCode):
		msg = "That code is not correct. Enter the six digits your app shows now for this account; if the app shows none, scan the QR code again."
	case errors.Is(err, mfa.ErrNoEnrolment):
		return httperror.New(http.StatusConflict, "The setup lapsed: a QR code must be confirmed within 10 minutes, and starting again replaces it. Start again and scan the new code.")
	case errors.Is(err, mfa.ErrAlreadyEnrolled):
		redirect(w, r, "/manage/account/totp/")
		return nil
	case err != nil:
		return err
	}
	if msg != "" {
		p, err := enrolmentPage(r.PostForm.Get("key_uri"))
		if err != nil {
			return err
		}
		return s.render(w, s.Refused(r, "/manage/account/totp/", http.StatusBadRequest, msg), http.StatusBadRequest,
			"totp", "Authenticator app", p, "")
	}
	m, err := s.letters.FactorAdded(v.account.Email, totpLabel)
	s.queue(notify.KindFactorAdded, m, err)
	codes, err := s.recovery.Regenerate(ctx, v.account.ID, requestOf(r))
	if err != nil {
		return err
	}
	return s.showRecoveryCodes(w, r, codes)
}

// confirmed reports whether a form's confirmation box was ticked. Irreversible changes ask for it in the page, and
// the handler checks it before changing anything, so that a form posted without it (a script, an old page) does
// nothing.
func confirmed(r *http.Request) bool { return r.PostForm.Get("confirm") == "yes" }

// RemoveTOTP removes the authenticator app (T6: re-authentication, an audit event, a mail), once its removal was
// confirmed.
func (s *Site) RemoveTOTP(w http.ResponseWriter, r *http.Request) error {
	if s.totp == nil {
		return errNoMFA
	}
	// The policy asks for the recent re-authentication (T6), through Factors.
	v, err := s.post(w, r, guard{back: "/manage/account/totp/"})
	if v == nil {
		return err
	}
	if !confirmed(r) {
		return httperror.New(http.StatusBadRequest, "Tick the box to confirm that the app's codes may stop working, then remove it.")
	}
	err = s.factors.RemoveTOTP(r.Context(), s.actor(v), requestOf(r))
	if errors.Is(err, policy.ErrReauthRequired) {
		redirect(w, r, reauthURL("/manage/account/totp/"))
		return nil
	}
	if errors.Is(err, mfa.ErrNotEnrolled) {
		return httperror.New(http.StatusNotFound, "There is no authenticator app on this account.")
	}
	if denied := (*policy.Denied)(nil); errors.As(err, &denied) {
		return httperror.Wrap(err, http.StatusForbidden, "%s", denied.Reason)
	}
	if err != nil {
		return err
	}
	m, err := s.letters.FactorRemoved(v.account.Email, totpLabel)
	s.queue(notify.KindFactorRemoved, m, err)
	redirect(w, r, "/manage/account/?notice=totp-removed")
	return nil
}

// RegenerateRecovery replaces the recovery codes (L3: the old set dies) once that was confirmed, and shows the new
// ones, once.
func (s *Site) RegenerateRecovery(w http.ResponseWriter, r *http.Request) error {
	if s.totp == nil {
		return errNoMFA
	}
	v, err := s.post(w, r, guard{action: policy.AddFactor, back: "/manage/account/totp/"})
	if v == nil {
		return err
	}
	if !confirmed(r) {
		return httperror.New(http.StatusBadRequest, "Tick the box to confirm that your current recovery codes may stop working, then generate new ones.")
	}
	enrolled, err := s.hasSecondFactor(r.Context(), v.account.ID)
	if err != nil {
		return err
	}
	if !enrolled {
		return httperror.New(http.StatusConflict, "Recovery codes belong to a second factor: add an authenticator app or a security key first.")
	}
	codes, err := s.recovery.Regenerate(r.Context(), v.account.ID, requestOf(r))
	if err != nil {
		return err
	}
	m, err := s.letters.FactorAdded(v.account.Email, "a new set of recovery codes; the earlier ones no longer work")
	s.queue(notify.KindFactorAdded, m, err)
	return s.showRecoveryCodes(w, r, codes)
}

// showRecoveryCodes shows a new set of recovery codes, the only time they are shown (L1), with the form that
// confirms they were saved.
func (s *Site) showRecoveryCodes(w http.ResponseWriter, r *http.Request, codes []string) error {
	// The file is named after the index, so that the codes of two indexes do not end up in one name.
	site := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '_' {
			return r
		}
		return '-'
	}, s.siteName)
	return s.render(w, r, http.StatusOK, "recovery_codes", "Your recovery codes",
		recoveryPage{Codes: codes, FileName: site + "-recovery-codes.txt"}, "")
}

// recoveryCodesSaved is the security-history event of a person confirming that they saved the recovery codes
// shown to them.
const recoveryCodesSaved = "mfa:recovery-saved"

// RecoveryCodesSaved records that the codes just shown were saved, which ends the account page's reminder. The
// codes cannot be shown again, so the reminder's way out is a new set; the record names no code.
func (s *Site) RecoveryCodesSaved(w http.ResponseWriter, r *http.Request) error {
	if s.totp == nil {
		return errNoMFA
	}
	v, err := s.post(w, r, guard{back: "/manage/account/"})
	if v == nil {
		return err
	}
	if !confirmed(r) {
		return httperror.New(http.StatusBadRequest, "Tick the box once the recovery codes are saved. If they were not, they cannot be shown again: generate a new set and save it.")
	}
	if err := s.audit.Record(r.Context(), recoveryCodesSaved, v.account.ID, 0, requestOf(r), ""); err != nil {
		return err
	}
	redirect(w, r, "/manage/account/?notice=recovery-saved")
	return nil
}

// recoveryUnsaved reports whether the newest set of recovery codes in history (newest first) was never confirmed
// as saved. The security history holds both events in order, so the reminder needs no state of its own; a set made
// before the events in history is not asked about.
func recoveryUnsaved(history []store.Event) bool {
	for _, e := range history {
		switch e.Kind {
		case recoveryCodesSaved:
			return false
		case mfa.RecoveryRegenerated:
			return true
		}
	}
	return false
}

// secondFactorCounters are the counters of second-factor attempts (R3): per user, across TOTP and recovery codes,
// and per IP.
func (s *Site) secondFactorCounters(userID int64, ip string) []keyed {
	return []keyed{
		{"user:" + strconv.FormatInt(userID, 10), []ratelimit.Rule{s.rules.SecondFactor5m, s.rules.SecondFactor1h, s.rules.SecondFactor1d}},
		{ip, []ratelimit.Rule{s.rules.SecondFactorIP}},
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
	// Keys and TOTP say which factors the account has, so the page offers those.
	Keys bool
	TOTP bool
}

type recoveryUsedPage struct {
	Remaining int
	Next      string
	// Reauth says the code confirmed a password rather than finished a sign-in.
	Reauth bool
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

// secondFactors reports which second factors the user has (none when the site has no second factors).
func (s *Site) secondFactors(ctx context.Context, userID int64) (totp, keys bool, err error) {
	if s.totp == nil {
		return false, false, nil
	}
	if totp, err = s.totp.Enrolled(ctx, userID); err != nil {
		return false, false, err
	}
	if s.webauthn != nil {
		if keys, err = s.webauthn.Enrolled(ctx, userID); err != nil {
			return false, false, err
		}
	}
	return totp, keys, nil
}

// hasSecondFactor reports whether the user has an authenticator app or a security key.
func (s *Site) hasSecondFactor(ctx context.Context, userID int64) (bool, error) {
	totp, keys, err := s.secondFactors(ctx, userID)
	return totp || keys, err
}

func (s *Site) twoFactorForm(ctx context.Context, v *visitor, next string) (twoFactorForm, error) {
	f := twoFactorForm{CSRF: v.session.CSRFToken()}
	if p, ok := localPath(next); ok {
		f.Next = p
	}
	var err error
	f.TOTP, f.Keys, err = s.secondFactors(ctx, v.account.ID)
	return f, err
}

// TwoFactorForm asks a half-logged-in session for its second factor.
func (s *Site) TwoFactorForm(w http.ResponseWriter, r *http.Request) error {
	next := r.URL.Query().Get("next")
	v := s.halfSession(w, r, next)
	if v == nil {
		return nil
	}
	f, err := s.twoFactorForm(r.Context(), v, next)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "two_factor", "Two-factor authentication", f, "")
}

// proof is what a second step established.
type proof struct {
	key       accounts.Key // a security key or passkey answered
	recovery  bool         // a recovery code was spent
	remaining int          // recovery codes left, after one was spent
}

// checkProof checks the second factor a form carries for the session's user: a security key's answer (the
// credential field), a code from the authenticator app, or a recovery code. Attempts count per user and per IP
// across all three (R3), and while a limit holds even a right answer is refused. A wrong answer returns the
// message for the form; an error is for the error page.
func (s *Site) checkProof(ctx context.Context, r *http.Request, v *visitor) (proof, string, error) {
	counters := s.secondFactorCounters(v.account.ID, clientIP(r))
	d, err := s.check(ctx, counters)
	if err != nil {
		return proof{}, "", errLimiter(err)
	}
	if !d.Allowed {
		return proof{}, "", tooMany(d, "second-factor attempts")
	}
	var p proof
	if cred := r.PostForm.Get("credential"); cred != "" && s.webauthn != nil {
		_, err = s.webauthn.FinishLogin(ctx, v.account.ID, v.session.ID, credentialField(r), requestOf(r))
		if msg := keyRefusal(err); msg != "" {
			s.failed(ctx, counters)
			s.log.Info("security key refused", "user", v.account.ID, "err", err)
			return proof{}, msg, nil
		}
		p.key = err == nil
		return p, "", err
	}
	code := r.PostForm.Get("code")
	if _, isRecovery := mfa.NormalizeRecoveryCode(code); isRecovery {
		p.recovery = true
		p.remaining, err = s.recovery.Use(ctx, v.account.ID, code, requestOf(r))
	} else {
		err = s.totp.Check(ctx, v.account.ID, code)
	}
	switch {
	case errors.Is(err, mfa.ErrReplay):
		s.failed(ctx, counters)
		return proof{}, "That code was already used. Wait for your app to show a new one.", nil
	case errors.Is(err, mfa.ErrWrongCode), errors.Is(err, mfa.ErrNotEnrolled):
		s.failed(ctx, counters)
		return proof{}, "That code is not correct.", nil
	}
	return p, "", err
}

// TwoFactor finishes login with a security key, a TOTP code or a recovery code. Success replaces the session by a
// complete one (S2).
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
	p, msg, err := s.checkProof(ctx, r, v)
	if err != nil {
		return err
	}
	if msg != "" {
		f, err := s.twoFactorForm(ctx, v, next)
		if err != nil {
			return err
		}
		return s.render(w, r, http.StatusBadRequest, "two_factor", "Two-factor authentication", f, msg)
	}
	token, _, err := s.sessions.Rotate(ctx, v.token, accounts.LevelFull, p.key)
	if errors.Is(err, accounts.ErrNoSession) {
		redirect(w, r, loginURL(next))
		return nil
	}
	if err != nil {
		return err
	}
	s.setCookie(w, token)
	s.noticeNewDevice(ctx, v.account, requestOf(r))
	if p.recovery {
		m, err := s.letters.RecoveryCodeUsed(v.account.Email, p.remaining)
		s.queue(notify.KindRecoveryUsed, m, err)
		// The page is rendered for the old request, whose session was half: show it without the signed-in frame.
		return s.render(w, r, http.StatusOK, "recovery_used", "Recovery code used",
			recoveryUsedPage{Remaining: p.remaining, Next: afterLogin(next)}, "")
	}
	redirect(w, r, afterLogin(next))
	return nil
}
