package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/httperror"
	"wharf/internal/mfa"
	"wharf/internal/notify"
	"wharf/internal/policy"
	"wharf/internal/ratelimit"
)

// maxCredential bounds the assertion or attestation a form carries: a few hundred bytes from real
// authenticators, a few kilobytes with a certificate chain.
const maxCredential = 32 << 10

type keysPage struct {
	Keys []mfa.Key
	// Label is the label field's value after a refusal.
	Label string
}

// keyRefusal words a failed ceremony for the person at the key. The detail of a refusal goes to the log, not to
// the page: it helps an attacker more than a user.
func keyRefusal(err error) string {
	switch {
	case errors.Is(err, mfa.ErrChallenge):
		return "The security key request expired or was started in another window or session. Try again."
	case errors.Is(err, mfa.ErrKeyCloned):
		return "This security key reported a signature counter that did not go up, which is what a copied key does. " +
			"It was refused and the event is in your security history; if the key is yours, remove it and add it again."
	case errors.Is(err, mfa.ErrKeyInUse):
		return "That security key or passkey is already registered."
	case errors.Is(err, mfa.ErrKeyRefused):
		return "The answer of the security key or passkey was not accepted. Try again, or use another factor."
	}
	return ""
}

// writeJSON answers the option requests of webauthn.js, which show .error to the user.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

func jsonError(w http.ResponseWriter, status int, msg string) error {
	return writeJSON(w, status, map[string]string{"error": msg})
}

// writeOptions sends options made by mfa.WebAuthn, which are JSON already.
func writeOptions(w http.ResponseWriter, options []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(options)))
	_, err := w.Write(options)
	return err
}

// credentialField reads the authenticator's answer from a form.
func credentialField(r *http.Request) []byte {
	c := r.PostForm.Get("credential")
	if len(c) > maxCredential {
		return nil
	}
	return []byte(c)
}

// KeysPage lists the security keys and passkeys of the account and offers to add one. Like every factor change,
// it needs a recent re-authentication.
func (s *Site) KeysPage(w http.ResponseWriter, r *http.Request) error {
	if s.webauthn == nil {
		return errNoMFA
	}
	v, err := s.page(w, r, policy.AddFactor)
	if v == nil {
		return err
	}
	keys, err := s.webauthn.Keys(r.Context(), v.account.ID)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "webauthn", "Security keys and passkeys", keysPage{Keys: keys}, "")
}

// RegistrationOptions starts adding a key: the challenge is bound to this session (W4).
func (s *Site) RegistrationOptions(w http.ResponseWriter, r *http.Request) error {
	if s.webauthn == nil {
		return errNoMFA
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	v := signedIn(r)
	switch {
	case v == nil:
		return jsonError(w, http.StatusUnauthorized, "Your session ended. Sign in again.")
	case !v.session.CheckCSRF(r.PostForm.Get("csrf_token")):
		return jsonError(w, http.StatusForbidden, "The form expired. Reload the page and try again.")
	case !v.session.Sudo(s.now(), s.sudoWindow):
		return jsonError(w, http.StatusForbidden, "Confirm your password again: reload the page.")
	}
	options, err := s.webauthn.BeginRegistration(r.Context(), v.account.ID, v.session.ID, r.PostForm.Get("kind") == "passkey")
	if err != nil {
		return err
	}
	return writeOptions(w, options)
}

// AddKey finishes adding a key (W1) and tells the owner by mail (T6). The first factor of an account comes with
// recovery codes, shown once.
func (s *Site) AddKey(w http.ResponseWriter, r *http.Request) error {
	if s.webauthn == nil {
		return errNoMFA
	}
	v, err := s.post(w, r, guard{action: policy.AddFactor, back: "/manage/account/webauthn/"})
	if v == nil {
		return err
	}
	ctx := r.Context()
	label := strings.TrimSpace(r.PostForm.Get("label"))
	hadFactor, err := s.hasSecondFactor(ctx, v.account.ID)
	if err != nil {
		return err
	}
	key, err := s.webauthn.FinishRegistration(ctx, v.account.ID, v.session.ID, label, credentialField(r), requestOf(r))
	if msg := keyRefusal(err); msg != "" {
		s.log.Info("security key registration refused", "user", v.account.ID, "err", err)
		keys, lerr := s.webauthn.Keys(ctx, v.account.ID)
		if lerr != nil {
			return lerr
		}
		return s.render(w, r, http.StatusBadRequest, "webauthn", "Security keys and passkeys", keysPage{Keys: keys, Label: label}, msg)
	}
	if err != nil {
		return err
	}
	m, err := s.letters.FactorAdded(v.account.Email, keyKind(key)+" "+strconv.Quote(key.Label))
	s.queue(notify.KindFactorAdded, m, err)
	if !hadFactor {
		codes, err := s.recovery.Regenerate(ctx, v.account.ID, requestOf(r))
		if err != nil {
			return err
		}
		return s.showRecoveryCodes(w, r, codes)
	}
	redirect(w, r, "/manage/account/webauthn/?notice=key-added")
	return nil
}

func keyKind(k mfa.Key) string {
	if k.Passkey {
		return "passkey"
	}
	return "security key"
}

// RemoveKey removes a key (T6) once its removal was confirmed; the policy may keep the last factor of an account
// that must have one, and its reason shows at the key's form.
func (s *Site) RemoveKey(w http.ResponseWriter, r *http.Request) error {
	if s.webauthn == nil {
		return errNoMFA
	}
	// The policy asks for the recent re-authentication (T6), through Factors.
	v, err := s.post(w, r, guard{back: "/manage/account/webauthn/"})
	if v == nil {
		return err
	}
	id, err := strconv.ParseInt(r.PostForm.Get("key_id"), 10, 64)
	if err != nil {
		return httperror.New(http.StatusBadRequest, "No key was chosen.")
	}
	if !confirmed(r) {
		return httperror.New(http.StatusBadRequest, "Tick the box to confirm that the key may stop signing in, then remove it.")
	}
	key, err := s.factors.RemoveKey(r.Context(), s.actor(v), id, requestOf(r))
	if errors.Is(err, policy.ErrReauthRequired) {
		redirect(w, r, reauthURL("/manage/account/webauthn/"))
		return nil
	}
	if errors.Is(err, mfa.ErrUnknownKey) {
		return httperror.New(http.StatusNotFound, "There is no such key on this account.")
	}
	if err != nil {
		return err
	}
	m, err := s.letters.FactorRemoved(v.account.Email, keyKind(key)+" "+strconv.Quote(key.Label))
	s.queue(notify.KindFactorRemoved, m, err)
	redirect(w, r, "/manage/account/webauthn/?notice=key-removed")
	return nil
}

// AssertionOptions starts a key check for the session's own user: the second step of login, or a
// re-authentication. The challenge is bound to this session (W4) and counts as a second-factor attempt (R3).
func (s *Site) AssertionOptions(w http.ResponseWriter, r *http.Request) error {
	if s.webauthn == nil {
		return errNoMFA
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	v := anySession(r)
	if v == nil {
		return jsonError(w, http.StatusUnauthorized, "Your session ended. Sign in again.")
	}
	if !v.session.CheckCSRF(r.PostForm.Get("csrf_token")) {
		return jsonError(w, http.StatusForbidden, "The form expired. Reload the page and try again.")
	}
	options, err := s.webauthn.BeginLogin(r.Context(), v.account.ID, v.session.ID)
	if errors.Is(err, mfa.ErrNoKeys) {
		return jsonError(w, http.StatusConflict, "There is no security key on this account.")
	}
	if err != nil {
		return err
	}
	return writeOptions(w, options)
}

// passkeyCookie binds a passkey sign-in's challenge to the browser that asked for it (W4): there is no session
// yet. It lives as long as the challenge.
const passkeyCookie = "wharf_passkey"

const passkeyCookieAge = 5 * time.Minute

// passkeyBinding is the challenge's binding for the cookie's value: its hash, so that the database never holds
// what the browser sends.
func passkeyBinding(value string) string {
	sum := sha256.Sum256([]byte("wharf passkey v1\x00" + value))
	return "passkey:" + hex.EncodeToString(sum[:])
}

// PasskeyOptions starts a sign-in with a passkey, without a username.
func (s *Site) PasskeyOptions(w http.ResponseWriter, r *http.Request) error {
	if s.webauthn == nil {
		return errNoMFA
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	d, err := s.check(r.Context(), []keyed{{clientIP(r), []ratelimit.Rule{s.rules.PasskeyIP}}})
	if err == nil && d.Allowed {
		d, err = s.hit(r.Context(), []keyed{{clientIP(r), []ratelimit.Rule{s.rules.PasskeyStartsIP}}})
	}
	if err != nil {
		return errLimiter(err)
	}
	if !d.Allowed {
		return jsonError(w, http.StatusTooManyRequests, "Too many passkey sign-ins from your address. Try again in "+roughly(d.RetryAfter)+".")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	value := base64.RawURLEncoding.EncodeToString(raw)
	options, err := s.webauthn.BeginPasskeyLogin(r.Context(), passkeyBinding(value))
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: passkeyCookie, Value: value, Path: "/account/", MaxAge: int(passkeyCookieAge.Seconds()),
		HttpOnly: true, Secure: s.cookieSecure, SameSite: http.SameSiteStrictMode})
	return writeOptions(w, options)
}

// PasskeyLogin signs in with a passkey alone: the key stands for both the password and the second factor, which
// is why it must be a discoverable credential that verified its user.
func (s *Site) PasskeyLogin(w http.ResponseWriter, r *http.Request) error {
	if s.webauthn == nil {
		return errNoMFA
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := loginForm{}
	if p, ok := localPath(r.PostForm.Get("next")); ok {
		f.Next = p
	}
	ctx := r.Context()
	counters := []keyed{{clientIP(r), []ratelimit.Rule{s.rules.PasskeyIP}}}
	d, err := s.check(ctx, counters)
	if err != nil {
		return errLimiter(err)
	}
	if !d.Allowed {
		return tooMany(d, "passkey sign-ins")
	}
	c, err := r.Cookie(passkeyCookie)
	binding := ""
	if err == nil {
		binding = passkeyBinding(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: passkeyCookie, Value: "", Path: "/account/", MaxAge: -1, HttpOnly: true,
		Secure: s.cookieSecure, SameSite: http.SameSiteStrictMode})
	userID, _, err := s.webauthn.FinishPasskeyLogin(ctx, binding, credentialField(r), requestOf(r))
	if msg := keyRefusal(err); msg != "" {
		s.failed(ctx, counters)
		s.log.Info("passkey sign-in refused", "err", err)
		return s.render(w, r, http.StatusBadRequest, "login", "Sign in", f, msg)
	}
	if err != nil {
		return err
	}
	acct, err := s.db.AccountByID(ctx, userID)
	if err != nil {
		return err
	}
	if acct.Disabled {
		s.failed(ctx, counters)
		return s.render(w, r, http.StatusBadRequest, "login", "Sign in", f, "The answer of the security key or passkey was not accepted. Try again, or use another factor.")
	}
	if err := s.startSession(w, r, acct.ID, accounts.WithKey); err != nil {
		return err
	}
	s.recordPasskeyLogin(ctx, acct.ID, r)
	s.noticeNewDevice(ctx, acct, requestOf(r))
	redirect(w, r, afterLogin(f.Next))
	return nil
}

// recordPasskeyLogin writes the sign-in to the security history as a password sign-in is, so that the history
// and the new-device check see it.
func (s *Site) recordPasskeyLogin(ctx context.Context, userID int64, r *http.Request) {
	_ = s.audit.Record(ctx, accounts.LoginSucceeded, userID, 0, requestOf(r), "passkey")
}
