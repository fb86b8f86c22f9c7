package mfa

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"wharf/internal/audit"
	"wharf/internal/store"
)

const (
	// challengeFor is how long a begun ceremony can be finished: enough to find and touch a key or unlock a phone.
	challengeFor = 5 * time.Minute
	// maxLabel characters of a key's name are kept.
	maxLabel = 64
	// maxCredentialID is the longest credential id WebAuthn allows; longer ones are refused, not truncated.
	maxCredentialID = 1023
	userHandleSize  = 32
)

// Purposes of a challenge: one ceremony of each kind can be open per binding.
const (
	purposeRegister = "register"
	purposeLogin    = "login"
	purposePasskey  = "passkey"
)

// offeredAlgorithms are the key types a new credential may have. Every authenticator in use supports one of them;
// a narrow list keeps little-used verification code out of reach.
var offeredAlgorithms = []protocol.CredentialParameter{
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgES256},
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgEdDSA},
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgRS256},
}

// WebAuthnConfig names the relying party: the site as browsers and authenticators see it.
type WebAuthnConfig struct {
	RPID   string // the host of the public base URL, e.g. "localhost" or "pypi.example.org"
	Origin string // scheme://host[:port] of the public base URL
	RPName string // shown by the browser, the site name
}

// Key is a registered security key or passkey, as the account pages show it.
type Key struct {
	ID         int64
	Label      string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero = never
	Passkey    bool      // a discoverable (resident) credential: it can sign in without a username
	Synced     bool      // backup state: the credential is copied to other devices by its provider
}

// WebAuthn registers security keys and passkeys and checks them at login; Factors removes them, under the policy.
// go-webauthn verifies the cryptography; this type adds what the library leaves to its caller: challenges kept
// server-side, bound to a session and used once (W4), refusal of a sign count that does not rise (W3), the backup
// flags (W5) and unique credential ids (W1). Callers check re-authentication (T6) and the 2FA rate limit (R3)
// before calling it.
type WebAuthn struct {
	db  *store.DB
	wa  *webauthn.WebAuthn
	rec Recorder
	now func() time.Time
}

// NewWebAuthn returns the WebAuthn service; rec may be nil.
func NewWebAuthn(db *store.DB, cfg WebAuthnConfig, rec Recorder, now func() time.Time) (*WebAuthn, error) {
	if cfg.RPID == "" || cfg.RPName == "" {
		return nil, errors.New("webauthn: the relying party id and name must be set")
	}
	u, err := url.Parse(cfg.Origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("webauthn: origin %q is not scheme://host[:port]", cfg.Origin)
	}
	if host := u.Hostname(); host != cfg.RPID && !strings.HasSuffix(host, "."+cfg.RPID) {
		return nil, fmt.Errorf("webauthn: relying party id %q is not the origin's host or a parent domain of it", cfg.RPID)
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPName,
		RPOrigins:             []string{u.Scheme + "://" + u.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			UserVerification: protocol.VerificationPreferred,
		},
		// The browser's timeout; expiry itself is ours, on the injected clock (the library's uses time.Now).
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: challengeFor, TimeoutUVD: challengeFor},
			Registration: webauthn.TimeoutConfig{Timeout: challengeFor, TimeoutUVD: challengeFor},
		},
		// We ask for no extensions and read none; password managers add outputs unasked, which must not fail a
		// login.
		ExtensionsUnsolicitedOutputPolicy: protocol.UnsolicitedOutputPolicyIgnore,
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	if rec == nil {
		rec = nopRecorder{}
	}
	return &WebAuthn{db: db, wa: wa, rec: rec, now: now}, nil
}

// BeginRegistration starts adding a key and returns the options for navigator.credentials.create. With passkey the
// authenticator must make a discoverable credential, one that signs in without a username.
func (w *WebAuthn) BeginRegistration(ctx context.Context, userID int64, binding string, passkey bool) ([]byte, error) {
	acct, err := w.db.AccountByID(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("begin webauthn registration: %w", err)
	}
	handle := make([]byte, userHandleSize)
	rand.Read(handle)
	// The first registration fixes the handle; later ones, and racing first ones, get the stored one.
	handle, err = w.db.EnsureWebAuthnUserHandle(ctx, userID, handle, w.now())
	if err != nil {
		return nil, fmt.Errorf("begin webauthn registration: %w", err)
	}
	keys, err := w.db.WebAuthnCredentials(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("begin webauthn registration: %w", err)
	}
	resident := protocol.ResidentKeyRequirementDiscouraged
	if passkey {
		resident = protocol.ResidentKeyRequirementRequired
	}
	user := waUser{handle: handle, name: acct.Username, keys: keys}
	creation, session, err := w.wa.BeginRegistration(user,
		webauthn.WithExclusions(webauthn.Credentials(user.WebAuthnCredentials()).CredentialDescriptors()),
		webauthn.WithCredentialParameters(offeredAlgorithms),
		webauthn.WithResidentKeyRequirement(resident),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
	if err != nil {
		return nil, fmt.Errorf("begin webauthn registration: %w", err)
	}
	if err := w.put(ctx, binding, purposeRegister, userID, passkey, session); err != nil {
		return nil, fmt.Errorf("begin webauthn registration: %w", err)
	}
	return marshalOptions("begin webauthn registration", creation)
}

// FinishRegistration verifies the browser's response to BeginRegistration's options and stores the new key under
// label (trimmed; a default when empty).
func (w *WebAuthn) FinishRegistration(ctx context.Context, userID int64, binding, label string, response []byte, from audit.Request) (Key, error) {
	const op = "finish webauthn registration"
	ch, session, err := w.take(ctx, binding, purposeRegister, userID)
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", op, err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Key{}, refuse(op, "unreadable response", err)
	}
	handle, err := w.db.WebAuthnUserHandle(ctx, userID)
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", op, err)
	}
	cred, err := w.wa.CreateCredential(waUser{handle: handle}, session, parsed)
	if err != nil {
		return Key{}, refuse(op, "verification failed", err)
	}
	// go-webauthn checks these too today; checking here keeps W1 and W5 ours should an upgrade change its defaults.
	flags := parsed.Response.AttestationObject.AuthData.Flags
	switch {
	case !flags.HasUserPresent():
		return Key{}, refuse(op, "user presence flag not set", nil)
	case flags.HasBackupState() && !flags.HasBackupEligible():
		return Key{}, refuse(op, "backed up but not backup eligible", nil)
	case len(cred.ID) == 0 || len(cred.ID) > maxCredentialID:
		return Key{}, refuse(op, fmt.Sprintf("credential id of %d bytes", len(cred.ID)), nil)
	case !bytes.Equal(cred.ID, parsed.RawID):
		return Key{}, refuse(op, "credential id differs from rawId", nil)
	}
	var pk webauthncose.PublicKeyData
	if err := webauthncbor.Unmarshal(cred.PublicKey, &pk); err != nil {
		return Key{}, refuse(op, "unreadable public key", err)
	}
	if !offered(pk.Algorithm) {
		return Key{}, refuse(op, fmt.Sprintf("algorithm %d not offered", pk.Algorithm), nil)
	}

	transports := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		transports[i] = string(t)
	}
	stored, err := w.db.AddWebAuthnCredential(ctx, store.WebAuthnCredential{
		UserID: userID, CredentialID: cred.ID, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		AAGUID: cred.Authenticator.AAGUID, Transports: transports, AttestationFormat: cred.AttestationFormat,
		BackupEligible: flags.HasBackupEligible(), BackupState: flags.HasBackupState(), Discoverable: ch.Passkey,
		Label: keyLabel(label, ch.Passkey), CreatedAt: w.now(),
	})
	if errors.Is(err, store.ErrConflict) {
		return Key{}, fmt.Errorf("%s: %w", op, ErrKeyInUse)
	}
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", op, err)
	}
	record(ctx, w.rec, WebAuthnAdded, userID, from, stored.Label)
	return toKey(stored), nil
}

// BeginLogin starts the second step of a login with one of the user's keys and returns the options for
// navigator.credentials.get; ErrNoKeys when the user has none.
func (w *WebAuthn) BeginLogin(ctx context.Context, userID int64, binding string) ([]byte, error) {
	const op = "begin webauthn login"
	keys, err := w.db.WebAuthnCredentials(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: %w", op, ErrNoKeys)
	}
	handle, err := w.db.WebAuthnUserHandle(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	assertion, session, err := w.wa.BeginLogin(waUser{handle: handle, keys: keys})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := w.put(ctx, binding, purposeLogin, userID, false, session); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return marshalOptions(op, assertion)
}

// FinishLogin verifies the browser's response to BeginLogin's options: a signature by one of the user's keys.
func (w *WebAuthn) FinishLogin(ctx context.Context, userID int64, binding string, response []byte, from audit.Request) (Key, error) {
	const op = "finish webauthn login"
	_, session, err := w.take(ctx, binding, purposeLogin, userID)
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", op, err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Key{}, refuse(op, "unreadable response", err)
	}
	handle, err := w.db.WebAuthnUserHandle(ctx, userID)
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", op, err)
	}
	keys, err := w.db.WebAuthnCredentials(ctx, userID)
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", op, err)
	}
	stored, ok := findKey(keys, parsed.RawID)
	if !ok {
		return Key{}, refuse(op, "not one of the user's keys", nil)
	}
	if _, err := w.wa.ValidateLogin(waUser{handle: handle, keys: keys}, session, parsed); err != nil {
		return Key{}, refuse(op, "verification failed", err)
	}
	return w.accept(ctx, op, stored, parsed, from)
}

// BeginPasskeyLogin starts a login without a username and returns the options for navigator.credentials.get: no
// allowCredentials, so the authenticator offers its discoverable credentials for this site.
func (w *WebAuthn) BeginPasskeyLogin(ctx context.Context, binding string) ([]byte, error) {
	const op = "begin passkey login"
	// A passkey replaces the password and the second factor together, so the authenticator must check that it is
	// its owner using it (PIN, biometrics), not only that someone touched it.
	assertion, session, err := w.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := w.put(ctx, binding, purposePasskey, 0, false, session); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return marshalOptions(op, assertion)
}

// FinishPasskeyLogin verifies the browser's response to BeginPasskeyLogin's options and says whose passkey signed.
// Only keys registered as passkeys sign in this way: a key added as a second factor stays one.
func (w *WebAuthn) FinishPasskeyLogin(ctx context.Context, binding string, response []byte, from audit.Request) (userID int64, k Key, err error) {
	const op = "finish passkey login"
	_, session, err := w.take(ctx, binding, purposePasskey, 0)
	if err != nil {
		return 0, Key{}, fmt.Errorf("%s: %w", op, err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return 0, Key{}, refuse(op, "unreadable response", err)
	}
	handle := parsed.Response.UserHandle
	if len(handle) == 0 {
		return 0, Key{}, refuse(op, "no user handle", nil)
	}
	stored, err := w.db.WebAuthnCredentialByCredentialID(ctx, parsed.RawID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, Key{}, refuse(op, "unknown credential", nil)
	}
	if err != nil {
		return 0, Key{}, fmt.Errorf("%s: %w", op, err)
	}
	owner, err := w.db.UserByWebAuthnHandle(ctx, handle)
	if errors.Is(err, store.ErrNotFound) || (err == nil && owner != stored.UserID) {
		return 0, Key{}, refuse(op, "user handle does not match the credential's owner", nil)
	}
	if err != nil {
		return 0, Key{}, fmt.Errorf("%s: %w", op, err)
	}
	if !stored.Discoverable {
		return 0, Key{}, refuse(op, "key registered as a second factor, not as a passkey", nil)
	}
	keys, err := w.db.WebAuthnCredentials(ctx, owner)
	if err != nil {
		return 0, Key{}, fmt.Errorf("%s: %w", op, err)
	}
	user := waUser{handle: handle, keys: keys}
	_, _, err = w.wa.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return user, nil }, session, parsed)
	if err != nil {
		return 0, Key{}, refuse(op, "verification failed", err)
	}
	k, err = w.accept(ctx, op, stored, parsed, from)
	if err != nil {
		return 0, Key{}, err
	}
	return owner, k, nil
}

// accept applies the rules the library leaves to us to a verified assertion and records its use.
func (w *WebAuthn) accept(ctx context.Context, op string, stored store.WebAuthnCredential, parsed *protocol.ParsedCredentialAssertionData, from audit.Request) (Key, error) {
	flags := parsed.Response.AuthenticatorData.Flags
	switch {
	case !flags.HasUserPresent():
		return Key{}, refuse(op, "user presence flag not set", nil)
	case flags.HasBackupState() && !flags.HasBackupEligible():
		return Key{}, refuse(op, "backed up but not backup eligible", nil)
	case flags.HasBackupEligible() != stored.BackupEligible:
		return Key{}, refuse(op, "backup eligibility changed since registration", nil)
	}
	// W3: go-webauthn only sets CloneWarning. A counter that does not rise means two authenticators hold this key,
	// unless both counts are 0 (an authenticator without a counter, as synced passkeys are).
	count := parsed.Response.AuthenticatorData.Counter
	if (count != 0 || stored.SignCount != 0) && count <= stored.SignCount {
		return Key{}, w.cloned(ctx, op, stored, stored.SignCount, count, from)
	}
	now := w.now()
	// The read above may be stale; the conditional UPDATE decides between concurrent assertions.
	err := w.db.UseWebAuthnCredential(ctx, stored.UserID, stored.ID, count, flags.HasBackupState(), now)
	if errors.Is(err, store.ErrNotFound) {
		again, err := w.db.WebAuthnCredentialByCredentialID(ctx, stored.CredentialID)
		if errors.Is(err, store.ErrNotFound) {
			return Key{}, refuse(op, "key removed during login", nil)
		}
		if err != nil {
			return Key{}, fmt.Errorf("%s: %w", op, err)
		}
		return Key{}, w.cloned(ctx, op, stored, again.SignCount, count, from)
	}
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", op, err)
	}
	stored.SignCount, stored.BackupState, stored.LastUsedAt = count, flags.HasBackupState(), now
	return toKey(stored), nil
}

func (w *WebAuthn) cloned(ctx context.Context, op string, k store.WebAuthnCredential, storedCount, count uint32, from audit.Request) error {
	record(ctx, w.rec, WebAuthnCloneSuspected, k.UserID, from,
		fmt.Sprintf("%s: sign count %d presented, %d stored", k.Label, count, storedCount))
	return fmt.Errorf("%s: key %d: %w", op, k.ID, ErrKeyCloned)
}

// Keys lists the user's keys, oldest first.
func (w *WebAuthn) Keys(ctx context.Context, userID int64) ([]Key, error) {
	stored, err := w.db.WebAuthnCredentials(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("webauthn keys: %w", err)
	}
	keys := make([]Key, len(stored))
	for i, c := range stored {
		keys[i] = toKey(c)
	}
	return keys, nil
}

// Enrolled reports whether the user has at least one key.
func (w *WebAuthn) Enrolled(ctx context.Context, userID int64) (bool, error) {
	keys, err := w.db.WebAuthnCredentials(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("webauthn enrolled: %w", err)
	}
	return len(keys) > 0, nil
}

// put keeps the library's session data for a begun ceremony, under a hash of the binding: the binding may be a
// session id or cookie, which the challenges table then does not hold.
func (w *WebAuthn) put(ctx context.Context, binding, purpose string, userID int64, passkey bool, session *webauthn.SessionData) error {
	if binding == "" {
		return errors.New("empty binding")
	}
	data, err := json.Marshal(session)
	if err != nil {
		return err
	}
	now := w.now()
	return w.db.PutWebAuthnChallenge(ctx, store.WebAuthnChallenge{
		Binding: bindingKey(binding), Purpose: purpose, UserID: userID, Passkey: passkey, Session: data,
		CreatedAt: now, ExpiresAt: now.Add(challengeFor),
	})
}

// take spends the challenge of binding and purpose, whatever comes after: a failed attempt needs a new Begin.
func (w *WebAuthn) take(ctx context.Context, binding, purpose string, userID int64) (store.WebAuthnChallenge, webauthn.SessionData, error) {
	if binding == "" {
		return store.WebAuthnChallenge{}, webauthn.SessionData{}, ErrChallenge
	}
	ch, err := w.db.TakeWebAuthnChallenge(ctx, bindingKey(binding), purpose, w.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.WebAuthnChallenge{}, webauthn.SessionData{}, ErrChallenge
	}
	if err != nil {
		return store.WebAuthnChallenge{}, webauthn.SessionData{}, err
	}
	if ch.UserID != userID {
		return store.WebAuthnChallenge{}, webauthn.SessionData{}, ErrChallenge
	}
	var session webauthn.SessionData
	if err := json.Unmarshal(ch.Session, &session); err != nil {
		return store.WebAuthnChallenge{}, webauthn.SessionData{}, fmt.Errorf("stored webauthn session: %w", err)
	}
	return ch, session, nil
}

func bindingKey(binding string) string {
	sum := sha256.Sum256([]byte("wharf-webauthn-binding\x00" + binding))
	return hex.EncodeToString(sum[:])
}

func marshalOptions(op string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return b, nil
}

func offered(alg int64) bool {
	for _, p := range offeredAlgorithms {
		if int64(p.Algorithm) == alg {
			return true
		}
	}
	return false
}

func findKey(keys []store.WebAuthnCredential, credentialID []byte) (store.WebAuthnCredential, bool) {
	for _, k := range keys {
		if bytes.Equal(k.CredentialID, credentialID) {
			return k, true
		}
	}
	return store.WebAuthnCredential{}, false
}

// cleanLabel trims the name of a factor, drops control characters (it is shown in pages and mails) and keeps
// maxLabel characters; an empty name becomes def.
func cleanLabel(label, def string) string {
	label = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, label)
	label = strings.TrimSpace(label)
	if utf8.RuneCountInString(label) > maxLabel {
		label = strings.TrimSpace(string([]rune(label)[:maxLabel]))
	}
	if label == "" {
		return def
	}
	return label
}

// keyLabel is the name of a new key, "Security key" or "Passkey" when the user gave none.
func keyLabel(label string, passkey bool) string {
	if passkey {
		return cleanLabel(label, "Passkey")
	}
	return cleanLabel(label, "Security key")
}

func toKey(c store.WebAuthnCredential) Key {
	return Key{ID: c.ID, Label: c.Label, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt, Passkey: c.Discoverable, Synced: c.BackupState}
}

// waUser is the user as go-webauthn sees it.
type waUser struct {
	handle []byte
	name   string
	keys   []store.WebAuthnCredential
}

func (u waUser) WebAuthnID() []byte          { return u.handle }
func (u waUser) WebAuthnName() string        { return u.name }
func (u waUser) WebAuthnDisplayName() string { return u.name }

func (u waUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(u.keys))
	for i, k := range u.keys {
		flags := protocol.FlagUserPresent
		if k.BackupEligible {
			flags |= protocol.FlagBackupEligible
		}
		if k.BackupState {
			flags |= protocol.FlagBackupState
		}
		transports := make([]protocol.AuthenticatorTransport, len(k.Transports))
		for j, t := range k.Transports {
			transports[j] = protocol.AuthenticatorTransport(t)
		}
		out[i] = webauthn.Credential{
			ID: k.CredentialID, PublicKey: k.PublicKey, AttestationFormat: k.AttestationFormat, Transport: transports,
			Flags:         webauthn.NewCredentialFlags(flags),
			Authenticator: webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: k.SignCount},
		}
	}
	return out
}

// refusedError is a response that failed verification. Its text carries the reason, for logs; callers show users
// only what ErrKeyRefused says.
type refusedError struct {
	reason string
	err    error
}

func (e *refusedError) Error() string {
	msg := ErrKeyRefused.Error() + ": " + e.reason
	var pe *protocol.Error
	if errors.As(e.err, &pe) {
		msg += ": " + pe.Details
		if pe.DevInfo != "" && pe.DevInfo != "<nil>" {
			msg += " (" + pe.DevInfo + ")"
		}
	} else if e.err != nil {
		msg += ": " + e.err.Error()
	}
	// One log line per refusal: the library's details hold newlines.
	return strings.Join(strings.Fields(msg), " ")
}

func (e *refusedError) Is(target error) bool { return target == ErrKeyRefused }
func (e *refusedError) Unwrap() error        { return e.err }

func refuse(op, reason string, err error) error {
	return fmt.Errorf("%s: %w", op, &refusedError{reason: reason, err: err})
}
