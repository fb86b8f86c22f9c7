package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"wharf/internal/httperror"
	"wharf/internal/ratelimit"
)

// keyed is the counters of one key: its rules count together, all or none.
type keyed struct {
	key   string
	rules []ratelimit.Rule
}

// loginCounters are the counters of password guesses against an account name from an address (R1): per account
// (the limiter normalises the name, R2), per IP, and one ceiling for everyone. Login, re-authentication and the
// current-password check of a password change share them, since each is a way to test a password.
func (s *Site) loginCounters(username, ip string) []keyed {
	return []keyed{
		{username, []ratelimit.Rule{s.rules.LoginAccount}},
		{ip, []ratelimit.Rule{s.rules.LoginIP}},
		{ratelimit.GlobalKey, []ratelimit.Rule{s.rules.LoginGlobal}},
	}
}

// check reports whether every counter allows another attempt, without counting one. Of several refusals it
// returns the longest wait. It is called before the password is even looked at, so that the right password is
// refused too while the limit holds.
func (s *Site) check(ctx context.Context, counters []keyed) (ratelimit.Decision, error) {
	out := ratelimit.Decision{Allowed: true}
	for _, c := range counters {
		d, err := s.limiter.Check(ctx, c.key, c.rules...)
		if err != nil {
			return ratelimit.Decision{}, err
		}
		if !d.Allowed && (out.Allowed || d.RetryAfter > out.RetryAfter) {
			out = d
		}
	}
	return out, nil
}

// hit counts one attempt on every counter and reports whether all of them allowed it.
func (s *Site) hit(ctx context.Context, counters []keyed) (ratelimit.Decision, error) {
	out := ratelimit.Decision{Allowed: true}
	for _, c := range counters {
		d, err := s.limiter.Hit(ctx, c.key, c.rules...)
		if err != nil {
			return ratelimit.Decision{}, err
		}
		if !d.Allowed && (out.Allowed || d.RetryAfter > out.RetryAfter) {
			out = d
		}
	}
	return out, nil
}

// failed counts a wrong password. A failure to count is logged, not shown: the answer is already "wrong password".
func (s *Site) failed(ctx context.Context, counters []keyed) {
	if _, err := s.hit(ctx, counters); err != nil {
		s.log.Error("rate limiter", "err", err)
	}
}

// mailCounters are the counters of an endpoint that sends mail to address (R5): per address, hourly and daily,
// and per IP.
func (s *Site) mailCounters(address, ip string) []keyed {
	return []keyed{
		{address, []ratelimit.Rule{s.rules.MailAddressHour, s.rules.MailAddressDay}},
		{ip, []ratelimit.Rule{s.rules.MailIP}},
	}
}

// errLimiter is the answer when the limiter itself fails: refusing is the safe side, since allowing would
// switch the limits off for as long as the limiter is away.
func errLimiter(err error) error {
	return httperror.Wrap(err, http.StatusServiceUnavailable, "This service is temporarily unavailable. Try again in a minute.")
}

// tooMany is the 429 answer, with Retry-After. Its message does not say which counter refused: that would tell
// whether an account name is being attacked or exists.
func tooMany(d ratelimit.Decision, what string) error {
	e := httperror.New(http.StatusTooManyRequests, "Too many %s. Try again in %s.", what, roughly(d.RetryAfter))
	e.Header = http.Header{"Retry-After": {strconv.Itoa(ratelimit.RetryAfterSeconds(d.RetryAfter))}}
	return e
}

// roughly says a wait in words, rounded up to what a person can act on.
func roughly(d time.Duration) string {
	switch {
	case d <= time.Minute:
		return "a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
	case d < 2*time.Hour:
		return "an hour"
	default:
		return fmt.Sprintf("%d hours", int((d+time.Hour-1)/time.Hour))
	}
}
