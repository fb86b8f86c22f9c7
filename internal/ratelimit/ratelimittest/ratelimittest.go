// Package ratelimittest is the conformance suite that every ratelimit.Limiter backend must pass, so that login,
// second-factor and mail limits hold the same way whether wharf runs as one process or as several sharing Redis.
package ratelimittest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/ratelimit"
)

// Clock is a clock that moves only when told to, shared by a limiter under test and the suite.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type op string

const (
	hit   op = "hit"
	check op = "check"
	reset op = "reset"
)

// step is one call of a scenario, made times times (once when zero) after the clock moved by wait.
type step struct {
	wait  time.Duration
	op    op
	key   string
	rules []ratelimit.Rule
	times int
	want  ratelimit.Decision // for every one of the calls; unused for reset
}

// outcome is what a step's call returned, labelled so that a diff says which call went wrong.
type outcome struct {
	Step     int
	Call     int
	Op       op
	Key      string
	Decision ratelimit.Decision
}

var (
	allowed = ratelimit.Decision{Allowed: true}

	// The rules wharf uses, so that the R1 and R3 scenarios check the limits that apply.
	loginAccount = ratelimit.DefaultRules().LoginAccount
	loginIP      = ratelimit.DefaultRules().LoginIP
	mfa5m        = ratelimit.DefaultRules().SecondFactor5m
	mfa1h        = ratelimit.DefaultRules().SecondFactor1h
	mfa1d        = ratelimit.DefaultRules().SecondFactor1d

	one          = ratelimit.Rule{Name: "one", Limit: 1, Window: time.Minute}
	three        = ratelimit.Rule{Name: "three", Limit: 3, Window: 5 * time.Minute}
	four         = ratelimit.Rule{Name: "four", Limit: 4, Window: time.Minute}
	twoPerMinute = ratelimit.Rule{Name: "two-per-minute", Limit: 2, Window: time.Minute}
	threePerHour = ratelimit.Rule{Name: "three-per-hour", Limit: 3, Window: time.Hour}
)

func refused(rule ratelimit.Rule, after time.Duration) ratelimit.Decision {
	return ratelimit.Decision{Allowed: false, RetryAfter: after, Rule: rule.Name}
}

// changing is one rule whose limit a new configuration changed.
func changing(limit int) ratelimit.Rule {
	return ratelimit.Rule{Name: "changing", Limit: limit, Window: time.Minute}
}

func rules(rs ...ratelimit.Rule) []ratelimit.Rule { return rs }

// Run runs the suite. newLimiter must return a limiter with no counters, reading the time from the clock that
// advance moves. The scenarios move that clock, so Run must not be called from a parallel test.
func Run(t *testing.T, newLimiter func(t *testing.T) ratelimit.Limiter, advance func(time.Duration)) {
	mfa := rules(mfa5m, mfa1h, mfa1d)
	long := strings.Repeat("x", 10_000)
	scenarios := []struct {
		name  string
		steps []step
	}{
		{"R1 11th failure within 5 min refused, allowed again once the window passes", []step{
			{op: hit, key: "alice", rules: rules(loginAccount), times: 10, want: allowed},
			{wait: 4*time.Minute + 59*time.Second, op: hit, key: "alice", rules: rules(loginAccount),
				want: refused(loginAccount, time.Second)},
			{op: check, key: "alice", rules: rules(loginAccount), want: refused(loginAccount, time.Second)},
			{wait: time.Second, op: check, key: "alice", rules: rules(loginAccount), want: allowed},
			{op: hit, key: "alice", rules: rules(loginAccount), times: 10, want: allowed},
			{op: hit, key: "alice", rules: rules(loginAccount), want: refused(loginAccount, 5*time.Minute)},
		}},
		{"limit of 1 reached at the first hit", []step{
			{op: hit, key: "k", rules: rules(one), want: allowed},
			{op: hit, key: "k", rules: rules(one), want: refused(one, time.Minute)},
		}},
		{"limit of 3 reached exactly at the 4th hit", []step{
			{op: hit, key: "k", rules: rules(three), times: 3, want: allowed},
			{op: hit, key: "k", rules: rules(three), want: refused(three, 5*time.Minute)},
		}},
		{"Retry-After counts from the oldest hit in the window", []step{
			{op: hit, key: "k", rules: rules(three), want: allowed},
			{wait: time.Minute, op: hit, key: "k", rules: rules(three), want: allowed},
			{wait: time.Minute, op: hit, key: "k", rules: rules(three), want: allowed},
			{wait: 30 * time.Second, op: hit, key: "k", rules: rules(three),
				want: refused(three, 2*time.Minute+30*time.Second)},
			{wait: 2*time.Minute + 29*time.Second, op: check, key: "k", rules: rules(three),
				want: refused(three, time.Second)},
			{wait: time.Second, op: hit, key: "k", rules: rules(three), want: allowed},
			{op: hit, key: "k", rules: rules(three), want: refused(three, time.Minute)},
		}},
		{"window slides hit by hit", []step{
			{op: hit, key: "k", rules: rules(four), times: 2, want: allowed},
			{wait: 30 * time.Second, op: hit, key: "k", rules: rules(four), times: 2, want: allowed},
			{op: hit, key: "k", rules: rules(four), want: refused(four, 30*time.Second)},
			{wait: 30 * time.Second, op: hit, key: "k", rules: rules(four), times: 2, want: allowed},
			{op: hit, key: "k", rules: rules(four), want: refused(four, 30*time.Second)},
			{wait: 29 * time.Second, op: check, key: "k", rules: rules(four), want: refused(four, time.Second)},
		}},
		{"refused hits do not extend the lockout", []step{
			{op: hit, key: "k", rules: rules(three), times: 3, want: allowed},
			{wait: time.Minute, op: hit, key: "k", rules: rules(three), times: 20,
				want: refused(three, 4*time.Minute)},
			{wait: 4 * time.Minute, op: hit, key: "k", rules: rules(three), want: allowed},
		}},
		{"R3 the tightest of several rules refuses and is named", []step{
			{op: hit, key: "bob", rules: mfa, times: 5, want: allowed},
			{op: hit, key: "bob", rules: mfa, want: refused(mfa5m, 5*time.Minute)},
			{wait: 5 * time.Minute, op: hit, key: "bob", rules: mfa, times: 5, want: allowed},
			{wait: 5 * time.Minute, op: hit, key: "bob", rules: mfa, times: 5, want: allowed},
			{wait: 5 * time.Minute, op: hit, key: "bob", rules: mfa, times: 5, want: allowed},
			// 20 in the hour, none in the last 5 minutes: only the hourly rule refuses.
			{wait: 5 * time.Minute, op: hit, key: "bob", rules: mfa, want: refused(mfa1h, 40*time.Minute)},
			// Both refuse: 5 minutes for the 5-minute rule, 3 for the hourly one; the caller waits 5.
			{wait: 42 * time.Minute, op: hit, key: "bob", rules: mfa, times: 5, want: allowed},
			{op: hit, key: "bob", rules: mfa, want: refused(mfa5m, 5*time.Minute)},
		}},
		{"R3 the daily rule refuses after 50", []step{
			{op: hit, key: "carol", rules: mfa, times: 5, want: allowed},
			{wait: time.Hour, op: hit, key: "carol", rules: mfa, times: 5, want: allowed},
			{wait: time.Hour, op: hit, key: "carol", rules: mfa, times: 5, want: allowed},
			{wait: time.Hour, op: hit, key: "carol", rules: mfa, times: 5, want: allowed},
			{wait: time.Hour, op: hit, key: "carol", rules: mfa, times: 5, want: allowed},
			{wait: time.Hour, op: hit, key: "carol", rules: mfa, times: 5, want: allowed},
			{wait: time.Hour, op: hit, key: "carol", rules: mfa, times: 5, want: allowed},
			{wait: time.Hour, op: hit, key: "carol", rules: mfa, times: 5, want: allowed},
			{wait: time.Hour, op: hit, key: "carol", rules: mfa, times: 5, want: allowed},
			{wait: time.Hour, op: hit, key: "carol", rules: mfa, times: 5, want: allowed},
			{wait: time.Hour, op: hit, key: "carol", rules: mfa, want: refused(mfa1d, 14*time.Hour)},
		}},
		{"the longer-window rule is named when only it refuses, in either order", []step{
			{op: hit, key: "k", rules: rules(twoPerMinute, threePerHour), times: 2, want: allowed},
			{op: hit, key: "k", rules: rules(twoPerMinute, threePerHour), want: refused(twoPerMinute, time.Minute)},
			{wait: time.Minute, op: hit, key: "k", rules: rules(twoPerMinute, threePerHour), want: allowed},
			{op: check, key: "k", rules: rules(twoPerMinute, threePerHour), want: refused(threePerHour, 59*time.Minute)},
			{op: check, key: "k", rules: rules(threePerHour, twoPerMinute), want: refused(threePerHour, 59*time.Minute)},
		}},
		{"a refused hit is counted under no rule", []step{
			{op: hit, key: "k", rules: rules(twoPerMinute), times: 2, want: allowed},
			{op: hit, key: "k", rules: rules(twoPerMinute, threePerHour), times: 5, want: refused(twoPerMinute, time.Minute)},
			{op: hit, key: "k", rules: rules(threePerHour), times: 3, want: allowed},
		}},
		{"Check does not count", []step{
			{op: check, key: "k", rules: rules(three), times: 20, want: allowed},
			{op: hit, key: "k", rules: rules(three), times: 3, want: allowed},
			{op: check, key: "k", rules: rules(three), times: 5, want: refused(three, 5*time.Minute)},
			{wait: time.Minute, op: hit, key: "k", rules: rules(three), want: refused(three, 4*time.Minute)},
		}},
		{"Reset forgets the account, not the IP", []step{
			{op: hit, key: "alice", rules: rules(loginAccount), times: 10, want: allowed},
			{op: hit, key: "192.0.2.7", rules: rules(loginIP), times: 10, want: allowed},
			{op: reset, key: "alice", rules: rules(loginAccount)},
			{op: hit, key: "alice", rules: rules(loginAccount), want: allowed},
			{op: check, key: "192.0.2.7", rules: rules(loginIP), want: refused(loginIP, 5*time.Minute)},
		}},
		{"Reset of one rule keeps the others", []step{
			{op: hit, key: "k", rules: rules(twoPerMinute, threePerHour), times: 2, want: allowed},
			{op: hit, key: "k", rules: rules(threePerHour), want: allowed},
			{op: check, key: "k", rules: rules(twoPerMinute), want: refused(twoPerMinute, time.Minute)},
			{op: reset, key: "k", rules: rules(twoPerMinute)},
			{op: check, key: "k", rules: rules(twoPerMinute), want: allowed},
			{op: check, key: "k", rules: rules(twoPerMinute, threePerHour), want: refused(threePerHour, time.Hour)},
			{op: reset, key: "never-seen", rules: rules(twoPerMinute)},
		}},
		{"R2 spellings of one name count as one key", []step{
			{op: hit, key: "Alice", rules: rules(four), want: allowed},
			{op: hit, key: "alice ", rules: rules(four), want: allowed},
			{op: hit, key: "ALICE", rules: rules(four), want: allowed},
			{op: hit, key: "ＡＬＩＣＥ", rules: rules(four), want: allowed},
			{op: hit, key: "\talice\u3000", rules: rules(four), want: refused(four, time.Minute)},
			{op: hit, key: "bob", rules: rules(four), want: allowed},
		}},
		// The spellings that sign into the account kim (see ident.Key) share its login counter: ten guesses in all,
		// whichever way they are typed. "kİm" is another account's name, so it counts apart.
		{"R2 every spelling that signs into an account counts on its one login counter", []step{
			{op: hit, key: "kim", rules: rules(loginAccount), times: 3, want: allowed},
			{op: hit, key: "ＫＩＭ", rules: rules(loginAccount), times: 3, want: allowed},
			{op: hit, key: "\u212AIM", rules: rules(loginAccount), times: 2, want: allowed},
			{op: hit, key: "kim ", rules: rules(loginAccount), times: 2, want: allowed},
			{op: hit, key: "KIM", rules: rules(loginAccount), want: refused(loginAccount, 5*time.Minute)},
			{op: check, key: "\u212Aim", rules: rules(loginAccount), want: refused(loginAccount, 5*time.Minute)},
			{op: hit, key: "kİm", rules: rules(loginAccount), want: allowed},
		}},
		{"IPv6 addresses count per /64, mapped IPv4 as IPv4", []step{
			{op: hit, key: "2001:db8:1:2::1", rules: rules(twoPerMinute), want: allowed},
			{op: hit, key: "2001:DB8:1:2:ffff:ffff:ffff:ffff", rules: rules(twoPerMinute), want: allowed},
			{op: hit, key: "2001:db8:1:2::77", rules: rules(twoPerMinute), want: refused(twoPerMinute, time.Minute)},
			{op: hit, key: "2001:db8:1:3::1", rules: rules(twoPerMinute), want: allowed},
			{op: hit, key: "192.0.2.1", rules: rules(twoPerMinute), want: allowed},
			{op: hit, key: "::ffff:192.0.2.1", rules: rules(twoPerMinute), want: allowed},
			{op: hit, key: " 192.0.2.1", rules: rules(twoPerMinute), want: refused(twoPerMinute, time.Minute)},
			{op: hit, key: "192.0.2.2", rules: rules(twoPerMinute), want: allowed},
		}},
		{"keys and rules count separately", []step{
			{op: hit, key: "k", rules: rules(one), want: allowed},
			{op: hit, key: "other", rules: rules(one), want: allowed},
			{op: hit, key: "k", rules: rules(loginAccount), want: allowed},
			{op: hit, key: "k", rules: rules(one), want: refused(one, time.Minute)},
		}},
		{"a changed limit applies at once", []step{
			{op: hit, key: "k", rules: rules(changing(5)), times: 3, want: allowed},
			{wait: 10 * time.Second, op: hit, key: "k", rules: rules(changing(5)), times: 2, want: allowed},
			{op: check, key: "k", rules: rules(changing(2)), want: refused(changing(2), time.Minute)},
			{op: check, key: "k", rules: rules(changing(4)), want: refused(changing(4), 50*time.Second)},
			{op: hit, key: "k", rules: rules(changing(6)), want: allowed},
			{op: hit, key: "k", rules: rules(changing(6)), want: refused(changing(6), 50*time.Second)},
			{op: hit, key: "k", rules: rules(changing(3)), want: refused(changing(3), time.Minute)},
			{wait: 50 * time.Second, op: hit, key: "k", rules: rules(changing(2)), want: refused(changing(2), 10*time.Second)},
			{op: hit, key: "k", rules: rules(changing(6)), times: 3, want: allowed},
			{op: hit, key: "k", rules: rules(changing(6)), want: refused(changing(6), 10*time.Second)},
			{op: check, key: "k", rules: rules(changing(2)), want: refused(changing(2), time.Minute)},
			{wait: 140 * time.Second, op: hit, key: "k", rules: rules(changing(2)), times: 2, want: allowed},
			{op: hit, key: "k", rules: rules(changing(2)), want: refused(changing(2), time.Minute)},
		}},
		{"a clock that steps back makes the limit stricter, never looser", []step{
			{op: hit, key: "k", rules: rules(twoPerMinute), want: allowed},
			{wait: -30 * time.Second, op: hit, key: "k", rules: rules(twoPerMinute), want: allowed},
			{op: hit, key: "k", rules: rules(twoPerMinute), want: refused(twoPerMinute, 90*time.Second)},
			{wait: 90 * time.Second, op: hit, key: "k", rules: rules(twoPerMinute), want: allowed},
		}},
		{"long keys stay distinct and stable", []step{
			{op: hit, key: long + "a", rules: rules(one), want: allowed},
			{op: hit, key: long + "b", rules: rules(one), want: allowed},
			{op: hit, key: long + "A", rules: rules(one), want: refused(one, time.Minute)},
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			l := newLimiter(t)
			ctx := t.Context()
			var want, got []outcome
			for i, s := range sc.steps {
				advance(s.wait)
				if s.op == reset {
					if err := l.Reset(ctx, s.key, s.rules...); err != nil {
						t.Fatalf("step %d: Reset: %v", i, err)
					}
					continue
				}
				for call := range max(s.times, 1) {
					f := l.Hit
					if s.op == check {
						f = l.Check
					}
					d, err := f(ctx, s.key, s.rules...)
					if err != nil {
						t.Fatalf("step %d call %d: %s: %v", i, call, s.op, err)
					}
					want = append(want, outcome{i, call, s.op, s.key, s.want})
					got = append(got, outcome{i, call, s.op, s.key, d})
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decisions (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("concurrent hits on one key allow exactly the limit", func(t *testing.T) {
		testConcurrent(t, newLimiter(t))
	})
	t.Run("invalid rules are refused", func(t *testing.T) {
		testInvalid(t, newLimiter(t))
	})
	t.Run("canceled context", func(t *testing.T) {
		l := newLimiter(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := l.Hit(ctx, "k", one); !errors.Is(err, context.Canceled) {
			t.Errorf("Hit with a canceled context: err = %v, want context.Canceled", err)
		}
	})
}

func testConcurrent(t *testing.T, l ratelimit.Limiter) {
	rule := ratelimit.Rule{Name: "concurrent", Limit: 10, Window: time.Minute}
	const goroutines = 100
	var allowedN, refusedN atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Go(func() {
			<-start
			d, err := l.Hit(t.Context(), "shared", rule)
			switch {
			case err != nil:
				errs <- err
			case d.Allowed:
				allowedN.Add(1)
			default:
				refusedN.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Hit: %v", err)
	}
	got := map[string]int64{"allowed": allowedN.Load(), "refused": refusedN.Load()}
	if diff := cmp.Diff(map[string]int64{"allowed": 10, "refused": goroutines - 10}, got); diff != "" {
		t.Errorf("outcomes of %d concurrent hits (-want +got):\n%s", goroutines, diff)
	}
}

func testInvalid(t *testing.T, l ratelimit.Limiter) {
	ok := ratelimit.Rule{Name: "ok", Limit: 1, Window: time.Minute}
	for _, tc := range []struct {
		name  string
		rules []ratelimit.Rule
	}{
		{"no rules", nil},
		{"empty name", rules(ratelimit.Rule{Limit: 1, Window: time.Minute})},
		{"colon in name", rules(ratelimit.Rule{Name: "login:ip", Limit: 1, Window: time.Minute})},
		{"zero limit", rules(ratelimit.Rule{Name: "z", Window: time.Minute})},
		{"negative limit", rules(ratelimit.Rule{Name: "n", Limit: -1, Window: time.Minute})},
		{"zero window", rules(ratelimit.Rule{Name: "w", Limit: 1})},
		{"sub-millisecond window", rules(ratelimit.Rule{Name: "w", Limit: 1, Window: time.Microsecond})},
		{"duplicate name", rules(ok, ok)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, herr := l.Hit(t.Context(), "k", tc.rules...)
			_, cerr := l.Check(t.Context(), "k", tc.rules...)
			rerr := l.Reset(t.Context(), "k", tc.rules...)
			for name, err := range map[string]error{"Hit": herr, "Check": cerr, "Reset": rerr} {
				if !errors.Is(err, ratelimit.ErrBadRule) {
					t.Errorf("%s: err = %v, want ErrBadRule", name, err)
				}
			}
		})
	}
}
