package accounts

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/ratelimit"
)

// spellings of kim's name and address. Those marked same are kim by ident.Key and must reach kim's account and
// count on its one limiter counter; "kİm" (U+0130) folds to "ki̇m" and must do neither.
var spellings = []struct {
	name, spelling, address string
	same                    bool
}{
	{"as registered", "kim", "kim@example.com", true},
	{"upper case", "KIM", "KIM@EXAMPLE.COM", true},
	{"full-width letters", "ＫＩＭ", "ＫＩＭ@ｅｘａｍｐｌｅ.ｃｏｍ", true},
	{"Kelvin sign", "\u212AIM", "\u212AIM@example.com", true},
	{"trailing space", "kim ", "kim@example.com ", true},
	{"capital I with dot above", "kİm", "kİm@example.com", false},
}

// TestSpellingsLogin proves that login and the login limiter agree on who is who (R2): every spelling that signs
// into kim's account counts on kim's one counter, so ten guesses spread over five spellings exhaust it, and the
// one spelling that is another name neither signs in nor counts there.
func TestSpellingsLogin(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			kim := f.user("kim")
			limiter := ratelimit.NewMemory(f.clock.Now, 0)
			for _, tc := range spellings {
				t.Run(tc.name, func(t *testing.T) {
					f.rec.take()
					got, err := f.users.Login(ctx, tc.spelling, testPassword, from)
					want := []event{{LoginSucceeded, kim.ID, "password"}}
					if !tc.same {
						want = []event{{LoginFailed, 0, "no such account"}}
					}
					switch {
					case tc.same && (err != nil || got.ID != kim.ID):
						t.Errorf("Login(%q) = %d, %v; want kim (%d)", tc.spelling, got.ID, err, kim.ID)
					case !tc.same && !errors.Is(err, ErrBadCredentials):
						t.Errorf("Login(%q) = %d, %v; want ErrBadCredentials", tc.spelling, got.ID, err)
					}
					if tc.same {
						// Two wrong guesses under this spelling, counted as the sign-in page counts them.
						for range 2 {
							if _, err := f.users.Login(ctx, tc.spelling, "wrong-guess-123", from); !errors.Is(err, ErrBadCredentials) {
								t.Fatalf("wrong password: %v", err)
							}
							if d, err := limiter.Hit(ctx, tc.spelling, ratelimit.DefaultRules().LoginAccount); err != nil || !d.Allowed {
								t.Fatalf("guess under %q refused early: %+v, %v", tc.spelling, d, err)
							}
							want = append(want, event{LoginFailed, kim.ID, "wrong password"})
						}
					}
					if diff := cmp.Diff(want, f.rec.take()); diff != "" {
						t.Errorf("events (-want +got):\n%s", diff)
					}
				})
			}
			for _, tc := range spellings {
				d, err := limiter.Check(ctx, tc.spelling, ratelimit.DefaultRules().LoginAccount)
				if err != nil || d.Allowed != !tc.same {
					t.Errorf("after 10 guesses at kim, Check(%q) allowed=%v (%v); want %v", tc.spelling, d.Allowed, err, !tc.same)
				}
			}
		})
	}
}

// TestSpellingsReset: a reset asked for by any spelling of kim's name or address reaches kim's account, and by
// kİm's reaches nothing.
func TestSpellingsReset(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			kim := f.user("kim")
			for _, tc := range spellings {
				for by, who := range map[string]string{
					"username":                          tc.spelling,
					"address":                           tc.address,
					"address with a full-width at sign": strings.Replace(tc.address, "@", "＠", 1),
				} {
					t.Run(tc.name+" by "+by, func(t *testing.T) {
						acct, token, found, err := f.users.StartReset(ctx, who, from)
						if err != nil {
							t.Fatal(err)
						}
						if found != tc.same || (tc.same && (acct.ID != kim.ID || token == "")) {
							t.Errorf("StartReset(%q) found=%v account %d; want found=%v for kim (%d)", who, found, acct.ID, tc.same, kim.ID)
						}
					})
				}
			}
		})
	}
}

// TestSpellingsRegister: no spelling of a taken name or address registers a second account. Full-width and
// Kelvin-sign names are refused by the username rule before uniqueness is asked (the store's conformance suite
// shows that uniqueness alone refuses them too); kİm's address is another address and may be registered.
func TestSpellingsRegister(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			f.user("kim")
			for _, tc := range []struct {
				name, username, email string
				want                  error
			}{
				{"name in upper case", "KIM", "new1@example.org", ErrUsernameTaken},
				{"name with a trailing space", "kim ", "new2@example.org", ErrUsernameTaken},
				{"name in full-width letters", "ＫＩＭ", "new3@example.org", ErrInvalidUsername},
				{"name with the Kelvin sign", "\u212AIM", "new4@example.org", ErrInvalidUsername},
				{"address in upper case", "new5", "KIM@example.com", ErrEmailTaken},
				{"address in full-width letters", "new6", "ＫＩＭ@example.com", ErrEmailTaken},
				{"address with the Kelvin sign", "new7", "\u212AIM@example.com", ErrEmailTaken},
				{"address with a trailing space", "new8", "kim@example.com ", ErrEmailTaken},
				{"address with capital I with dot above is another", "new9", "kİm@example.com", nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if _, err := f.users.Register(ctx, tc.username, tc.email, "tangerine-umbrella-47", from); !errors.Is(err, tc.want) {
						t.Errorf("Register(%q, %q) = %v, want %v", tc.username, tc.email, err, tc.want)
					}
				})
			}
		})
	}
}
