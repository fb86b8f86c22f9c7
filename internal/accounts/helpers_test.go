package accounts

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wharf/internal/audit"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// clock is the injected time of every test: it moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type event struct {
	Kind   string
	UserID int64
	Detail string
}

// memRecorder keeps events in memory for assertions.
type memRecorder struct {
	mu     sync.Mutex
	events []event
}

func (r *memRecorder) Record(_ context.Context, kind string, userID, _ int64, _ audit.Request, detail string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{kind, userID, detail})
	return nil
}

func (r *memRecorder) take() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// testCost makes the suite's thousands of hashes cheap; TestDefaultCost hashes at the server's.
var testCost = Cost{Time: 1, Memory: 64}

// testPassword is the password of every user made by fixture.user; hashing it once keeps the suite fast.
const testPassword = "tangerine-umbrella-47"

var testPasswordHash = sync.OnceValue(func() string {
	h, err := NewHasherWithCost(1, 8, testCost).Hash(testPassword)
	if err != nil {
		panic(err)
	}
	return h
})

type fixture struct {
	t        *testing.T
	db       *store.DB
	clock    *clock
	rec      *memRecorder
	hasher   *Hasher
	users    *Users
	sessions *Sessions
	verifies atomic.Int32 // argon2 verifications done through users
}

func newFixture(t *testing.T, open func(testing.TB) *store.DB) *fixture {
	f := &fixture{t: t, db: open(t), clock: newClock(), rec: &memRecorder{}, hasher: NewHasherWithCost(2, 8, testCost)}
	f.users = NewUsers(f.db, f.hasher, f.clock.Now, WithRecorder(f.rec))
	f.users.verify = func(encoded, password string) (bool, error) {
		f.verifies.Add(1)
		return f.hasher.Verify(encoded, password)
	}
	f.sessions = NewSessions(f.db, f.rec, f.clock.Now, SessionConfig{})
	return f
}

// user inserts an account with testPassword directly, skipping a hash per user.
func (f *fixture) user(name string) store.Account {
	f.t.Helper()
	ctx := context.Background()
	u, err := f.db.CreateUser(ctx, store.User{Username: name, Email: name + "@example.com", PasswordHash: testPasswordHash(), CreatedAt: f.clock.Now()})
	if err != nil {
		f.t.Fatal(err)
	}
	a, err := f.db.AccountByID(ctx, u.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// session signs a user in at the full level and returns the cookie's token.
func (f *fixture) session(userID int64) string {
	f.t.Helper()
	tok, _, err := f.sessions.Create(context.Background(), userID, LevelFull, WithoutKey, "192.0.2.1", "test")
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// alive reports whether a session token still works.
func (f *fixture) alive(token string) bool {
	_, err := f.sessions.Lookup(context.Background(), token)
	return err == nil
}

func engines(t *testing.T) []storetest.Engine { return storetest.Engines(t) }
