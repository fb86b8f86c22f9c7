package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"wharf/internal/audit"
	"wharf/internal/store"
)

// Level is how far a session got through login.
type Level string

const (
	// LevelPassword is the half-logged-in state (S3): the password was right and a second factor is still owed.
	// The web layer must allow such a session nothing but the second step; it expires after SecondStep.
	LevelPassword Level = "password"
	// LevelFull is a completed login.
	LevelFull Level = "full"
)

// Session defaults. Two hours idle keeps a forgotten browser from staying signed in overnight; twelve hours
// absolute is a working day; ten minutes is ample to find a phone or a security key.
const (
	DefaultIdle       = 2 * time.Hour
	DefaultAbsolute   = 12 * time.Hour
	DefaultSecondStep = 10 * time.Minute
	DefaultTouchEvery = time.Minute
	// DefaultSudoWindow is how long a re-authentication unlocks sensitive actions (S8).
	DefaultSudoWindow = 30 * time.Minute
)

// Session errors. Both mean "sign in again"; the second lets a page say why.
var (
	ErrNoSession          = errors.New("not signed in")
	ErrSessionExpired     = errors.New("the session has expired: sign in again")
	ErrSecondStepRequired = errors.New("finish signing in with your second factor first")
)

// SessionConfig sets the limits of sessions; a zero field takes its default.
type SessionConfig struct {
	Idle       time.Duration // a session unused for this long is dead
	Absolute   time.Duration // a full session is dead this long after login, however busy
	SecondStep time.Duration // a LevelPassword session is dead this long after the password step
	// TouchEvery bounds how often a lookup writes last_seen_at: once a minute rather than once a request, which
	// makes the idle limit up to this much shorter than configured.
	TouchEvery time.Duration
}

func (c SessionConfig) withDefaults() SessionConfig {
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.Idle, DefaultIdle}, {&c.Absolute, DefaultAbsolute}, {&c.SecondStep, DefaultSecondStep}, {&c.TouchEvery, DefaultTouchEvery}} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	return c
}

// Session is a signed-in browser. The token that names it lives only in the browser's cookie.
type Session struct {
	ID         string // hex SHA-256 of the token: safe to show as a handle, useless as a cookie
	UserID     int64
	Level      Level
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	ReauthAt   time.Time // zero = never
	KeyAt      time.Time // when the session last proved a security key or passkey; zero = never
	IP         string
	UserAgent  string
	csrfSecret []byte // unexported so that templates and %v never print it
}

// Full reports whether the session finished login, second factor included where the account has one.
func (s Session) Full() bool { return s.Level == LevelFull }

// Sudo reports whether the user proved a password or factor within window before now (S8), as sensitive actions
// require. Completing login counts as such a proof; a half-logged-in session never has it.
func (s Session) Sudo(now time.Time, window time.Duration) bool {
	return s.Full() && !s.ReauthAt.IsZero() && now.Sub(s.ReauthAt) < window
}

// SignedInWithKey reports whether the session proved a security key or passkey, at sign-in or at a
// re-authentication: what projects that require phishing-resistant factors accept for changes.
func (s Session) SignedInWithKey() bool { return s.Full() && !s.KeyAt.IsZero() }

// Key says whether a step of login or of re-authentication proved a security key or passkey.
type Key bool

// The two answers, for readable calls.
const (
	WithKey    Key = true
	WithoutKey Key = false
)

// csrfNonceLen randomises every CSRF token, so that a compressed page that reflects attacker input next to the
// token leaks nothing about it (BREACH) and no two forms carry the same value.
const csrfNonceLen = 16

// CSRFToken returns a fresh token for a form of this session: a random nonce and its HMAC under the session's
// secret, which never leaves the server.
func (s Session) CSRFToken() string {
	nonce := make([]byte, csrfNonceLen)
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported systems; a predictable token would be worse
	}
	return base64.RawURLEncoding.EncodeToString(append(nonce, s.csrfMAC(nonce)...))
}

// CheckCSRF reports, in constant time, whether token was made by CSRFToken for this very session.
func (s Session) CheckCSRF(token string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != csrfNonceLen+sha256.Size || len(s.csrfSecret) == 0 {
		return false
	}
	return hmac.Equal(raw[csrfNonceLen:], s.csrfMAC(raw[:csrfNonceLen]))
}

func (s Session) csrfMAC(nonce []byte) []byte {
	m := hmac.New(sha256.New, s.csrfSecret)
	m.Write([]byte("wharf csrf v1\x00" + s.ID + "\x00"))
	m.Write(nonce)
	return m.Sum(nil)
}

// Sessions creates, finds, rotates and ends browser sessions. Only SHA-256 hashes of the tokens are stored, so a
// copy of the database signs nobody in; "sign out everywhere" works because rows carry the user id.
type Sessions struct {
	db  *store.DB
	rec Recorder
	now func() time.Time
	cfg SessionConfig
}

// NewSessions builds the session service; rec may be nil.
func NewSessions(db *store.DB, rec Recorder, now func() time.Time, cfg SessionConfig) *Sessions {
	if rec == nil {
		rec = nopRecorder{}
	}
	return &Sessions{db: db, rec: rec, now: now, cfg: cfg.withDefaults()}
}

// newStoreSession makes a session row with a fresh token and CSRF secret.
func (m *Sessions) newStoreSession(userID int64, level Level, key Key, ip, userAgent string) (string, store.Session, error) {
	if level != LevelPassword && level != LevelFull {
		return "", store.Session{}, fmt.Errorf("session level %q", level)
	}
	token, id, err := newSecret()
	if err != nil {
		return "", store.Session{}, err
	}
	csrf := make([]byte, 32)
	if _, err := rand.Read(csrf); err != nil {
		return "", store.Session{}, err
	}
	now := m.now().UTC()
	s := store.Session{ID: id, UserID: userID, AuthLevel: string(level), CreatedAt: now, LastSeenAt: now,
		IP: audit.Clean(ip, 64), UserAgent: audit.Clean(userAgent, 512), CSRFSecret: hex.EncodeToString(csrf)}
	if level == LevelFull {
		s.ExpiresAt, s.ReauthAt = now.Add(m.cfg.Absolute), now
		if key {
			s.KeyAt = now
		}
	} else {
		s.ExpiresAt = now.Add(m.cfg.SecondStep)
	}
	return token, s, nil
}

// Create starts a session for a user who just passed the password step (LevelPassword, when a second factor
// follows) or all of login (LevelFull, with key when a passkey signed the user in). It returns the token for the
// cookie.
func (m *Sessions) Create(ctx context.Context, userID int64, level Level, key Key, ip, userAgent string) (string, Session, error) {
	token, s, err := m.newStoreSession(userID, level, key, ip, userAgent)
	if err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	if err := m.db.CreateSession(ctx, s); err != nil {
		return "", Session{}, err
	}
	return token, fromStore(s), nil
}

// load finds a live session; an expired one is deleted on sight.
func (m *Sessions) load(ctx context.Context, token string) (store.Session, time.Time, error) {
	id, ok := hashSecret(token)
	if !ok {
		return store.Session{}, time.Time{}, ErrNoSession
	}
	s, err := m.db.SessionByHash(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, time.Time{}, ErrNoSession
	}
	if err != nil {
		return store.Session{}, time.Time{}, err
	}
	now := m.now().UTC()
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= m.cfg.Idle {
		if err := m.db.DeleteSession(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Session{}, time.Time{}, err
		}
		return store.Session{}, time.Time{}, ErrSessionExpired
	}
	return s, now, nil
}

// Lookup returns the live session named by a cookie's token: ErrNoSession for an unknown token, ErrSessionExpired
// past the idle or absolute limit. The caller must check Full before allowing anything but the second step.
func (m *Sessions) Lookup(ctx context.Context, token string) (Session, error) {
	s, now, err := m.load(ctx, token)
	if err != nil {
		return Session{}, err
	}
	if now.Sub(s.LastSeenAt) >= m.cfg.TouchEvery {
		if err := m.db.TouchSession(ctx, s.ID, now); err != nil {
			return Session{}, err
		}
		s.LastSeenAt = now
	}
	return fromStore(s), nil
}

// Rotate replaces a live session by a new one of the given level and returns the new token (S2): after the
// password step and after the second step, so that a token planted in the browser before login (session
// fixation) or seen before the second factor is worth nothing afterwards. The new session gets a new CSRF secret.
// Of two concurrent rotations of one token, one gets ErrNoSession. key says the step proved a security key.
func (m *Sessions) Rotate(ctx context.Context, oldToken string, level Level, key Key) (string, Session, error) {
	old, _, err := m.load(ctx, oldToken)
	if err != nil {
		return "", Session{}, err
	}
	token, next, err := m.newStoreSession(old.UserID, level, key, old.IP, old.UserAgent)
	if err != nil {
		return "", Session{}, fmt.Errorf("rotate session: %w", err)
	}
	if err := m.db.RotateSession(ctx, old.ID, next); errors.Is(err, store.ErrNotFound) {
		return "", Session{}, ErrNoSession
	} else if err != nil {
		return "", Session{}, err
	}
	return token, fromStore(next), nil
}

// Reauthenticate stamps a full session as freshly re-authenticated, opening the sudo window. The caller has just
// checked the password with Users.ConfirmPassword (or a second factor) for this session's own user; key says a
// security key or passkey was among what it checked.
func (m *Sessions) Reauthenticate(ctx context.Context, token string, key Key) (Session, error) {
	s, now, err := m.load(ctx, token)
	if err != nil {
		return Session{}, err
	}
	if s.AuthLevel != string(LevelFull) {
		return Session{}, ErrSecondStepRequired
	}
	if err := m.db.SetSessionReauth(ctx, s.ID, now, bool(key)); errors.Is(err, store.ErrNotFound) {
		return Session{}, ErrNoSession
	} else if err != nil {
		return Session{}, err
	}
	s.ReauthAt = now
	if key {
		s.KeyAt = now
	}
	return fromStore(s), nil
}

// Logout ends a session on the server (S5), so that a copy of the cookie is refused afterwards. Ending a session
// that is already gone is not an error.
func (m *Sessions) Logout(ctx context.Context, token string, from audit.Request) error {
	id, ok := hashSecret(token)
	if !ok {
		return nil
	}
	s, err := m.db.SessionByHash(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := m.db.DeleteSession(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	record(ctx, m.rec, LoggedOut, s.UserID, from, "")
	return nil
}

// LogoutEverywhere ends every session of a user except the one named by exceptToken ("" ends them all, the
// caller's included), and says how many it ended.
func (m *Sessions) LogoutEverywhere(ctx context.Context, userID int64, exceptToken string, from audit.Request) (int64, error) {
	except, _ := hashSecret(exceptToken)
	n, err := m.db.DeleteUserSessions(ctx, userID, except)
	if err != nil {
		return 0, err
	}
	record(ctx, m.rec, LoggedOutEverywhere, userID, from, fmt.Sprintf("%d sessions ended", n))
	return n, nil
}

// List returns a user's live sessions, newest first, for a page that shows where the account is signed in.
func (m *Sessions) List(ctx context.Context, userID int64) ([]Session, error) {
	rows, err := m.db.SessionsForUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := m.now()
	var out []Session
	for _, s := range rows {
		if now.Before(s.ExpiresAt) && now.Sub(s.LastSeenAt) < m.cfg.Idle {
			out = append(out, fromStore(s))
		}
	}
	return out, nil
}

// End ends one of userID's sessions by its ID (from List). A session of another user is ErrNoSession, exactly
// like a missing one, so that ids cannot be probed (K4).
func (m *Sessions) End(ctx context.Context, userID int64, id string, from audit.Request) error {
	s, err := m.db.SessionByHash(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && s.UserID != userID) {
		return ErrNoSession
	}
	if err != nil {
		return err
	}
	if err := m.db.DeleteSession(ctx, id); errors.Is(err, store.ErrNotFound) {
		return ErrNoSession
	} else if err != nil {
		return err
	}
	record(ctx, m.rec, SessionEnded, userID, from, "ended from another session")
	return nil
}

// Prune deletes sessions past either limit, for a periodic job; lookups refuse them anyway.
func (m *Sessions) Prune(ctx context.Context) (int64, error) {
	now := m.now()
	return m.db.DeleteStaleSessions(ctx, now, now.Add(-m.cfg.Idle))
}

func fromStore(s store.Session) Session {
	secret, err := hex.DecodeString(s.CSRFSecret)
	if err != nil {
		secret = nil // a damaged secret fails every CSRF check rather than weakening them
	}
	return Session{ID: s.ID, UserID: s.UserID, Level: Level(s.AuthLevel), CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt,
		ExpiresAt: s.ExpiresAt, ReauthAt: s.ReauthAt, KeyAt: s.KeyAt, IP: s.IP, UserAgent: s.UserAgent, csrfSecret: secret}
}
