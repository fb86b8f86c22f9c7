package ratelimit_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/ratelimit"
	"wharf/internal/ratelimit/ratelimittest"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestMemoryConformance(t *testing.T) {
	clock := ratelimittest.NewClock(epoch)
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter {
		return ratelimit.NewMemory(clock.Now, 0)
	}, clock.Advance)
}

func TestMemoryBounded(t *testing.T) {
	perMinute := ratelimit.Rule{Name: "per-minute", Limit: 1, Window: time.Minute}
	perHour := ratelimit.Rule{Name: "per-hour", Limit: 1, Window: time.Hour}
	for _, tc := range []struct {
		name    string
		maxKeys int
		run     func(t *testing.T, m *ratelimit.Memory, clock *ratelimittest.Clock) map[string]any
		want    map[string]any
	}{
		{
			name:    "never holds more than maxKeys counters",
			maxKeys: 1000,
			run: func(t *testing.T, m *ratelimit.Memory, _ *ratelimittest.Clock) map[string]any {
				for i := range 20_000 {
					hit(t, m, "user"+strconv.Itoa(i), perMinute)
				}
				return map[string]any{"at most 1000": m.Len() <= 1000, "more than 900": m.Len() > 900}
			},
			want: map[string]any{"at most 1000": true, "more than 900": true},
		},
		{
			name:    "a counter under attack outlives a flood of new keys",
			maxKeys: 64,
			run: func(t *testing.T, m *ratelimit.Memory, _ *ratelimittest.Clock) map[string]any {
				hit(t, m, "victim", perMinute)
				victimAllowed := 0
				for i := range 1000 {
					hit(t, m, "flood"+strconv.Itoa(i), perMinute)
					if i%8 == 0 && hit(t, m, "victim", perMinute).Allowed {
						victimAllowed++
					}
				}
				return map[string]any{
					"victim allowed during the flood": victimAllowed,
					"first flood key remembered":      !check(t, m, "flood0", perMinute).Allowed,
				}
			},
			want: map[string]any{"victim allowed during the flood": 0, "first flood key remembered": false},
		},
		{
			name:    "expired counters are dropped before live ones",
			maxKeys: 64,
			run: func(t *testing.T, m *ratelimit.Memory, clock *ratelimittest.Clock) map[string]any {
				hit(t, m, "live", perHour) // the least recently used from now on
				for i := range 63 {
					hit(t, m, "old"+strconv.Itoa(i), perMinute)
				}
				clock.Advance(2 * time.Minute)
				for i := range 63 {
					hit(t, m, "new"+strconv.Itoa(i), perMinute)
				}
				return map[string]any{"live": m.Len() == 64 && !check(t, m, "live", perHour).Allowed}
			},
			want: map[string]any{"live": true},
		},
		{
			name:    "a full table of live counters drops the least recently used",
			maxKeys: 64,
			run: func(t *testing.T, m *ratelimit.Memory, _ *ratelimittest.Clock) map[string]any {
				for i := range 64 {
					hit(t, m, "k"+strconv.Itoa(i), perHour)
				}
				hit(t, m, "k0", perHour) // used again: k1 is now the oldest
				hit(t, m, "newcomer", perHour)
				return map[string]any{
					"k0": check(t, m, "k0", perHour).Allowed,
					"k1": check(t, m, "k1", perHour).Allowed,
					"k2": check(t, m, "k2", perHour).Allowed,
				}
			},
			want: map[string]any{"k0": false, "k1": true, "k2": false},
		},
		{
			name:    "a clock that stepped back does not make a refusing counter look expired",
			maxKeys: 64,
			run: func(t *testing.T, m *ratelimit.Memory, clock *ratelimittest.Clock) map[string]any {
				twoPerMinute := ratelimit.Rule{Name: "two", Limit: 2, Window: time.Minute}
				hit(t, m, "oldest", perHour)
				hit(t, m, "victim", twoPerMinute)
				clock.Advance(-30 * time.Second)
				hit(t, m, "victim", twoPerMinute)
				for i := range 62 {
					hit(t, m, "k"+strconv.Itoa(i), perHour)
				}
				clock.Advance(75 * time.Second) // the first stamp, 15 s from leaving the window, still refuses
				hit(t, m, "newcomer", perHour)
				return map[string]any{"victim": check(t, m, "victim", twoPerMinute), "oldest": check(t, m, "oldest", perHour).Allowed}
			},
			want: map[string]any{
				"victim": ratelimit.Decision{RetryAfter: 15 * time.Second, Rule: "two"},
				"oldest": true,
			},
		},
		{
			name:    "Reset frees the counter",
			maxKeys: 64,
			run: func(t *testing.T, m *ratelimit.Memory, _ *ratelimittest.Clock) map[string]any {
				hit(t, m, "k", perMinute, perHour)
				before := m.Len()
				if err := m.Reset(t.Context(), "k", perMinute, perHour); err != nil {
					t.Fatal(err)
				}
				return map[string]any{"before": before, "after": m.Len()}
			},
			want: map[string]any{"before": 2, "after": 0},
		},
		{
			name:    "Check creates no counter",
			maxKeys: 64,
			run: func(t *testing.T, m *ratelimit.Memory, _ *ratelimittest.Clock) map[string]any {
				for i := range 100 {
					check(t, m, "k"+strconv.Itoa(i), perMinute)
				}
				return map[string]any{"len": m.Len()}
			},
			want: map[string]any{"len": 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := ratelimittest.NewClock(epoch)
			got := tc.run(t, ratelimit.NewMemory(clock.Now, tc.maxKeys), clock)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func hit(t *testing.T, l ratelimit.Limiter, key string, rules ...ratelimit.Rule) ratelimit.Decision {
	t.Helper()
	d, err := l.Hit(t.Context(), key, rules...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func check(t *testing.T, l ratelimit.Limiter, key string, rules ...ratelimit.Rule) ratelimit.Decision {
	t.Helper()
	d, err := l.Check(t.Context(), key, rules...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// BenchmarkMemoryHit measures one Hit under the three second-factor rules (R3): on one hot key, spread over keys
// that fit the table, and over more keys than fit, so that every new key evicts.
func BenchmarkMemoryHit(b *testing.B) {
	rules := []ratelimit.Rule{
		{Name: "2fa-5m", Limit: 5, Window: 5 * time.Minute},
		{Name: "2fa-1h", Limit: 20, Window: time.Hour},
		{Name: "2fa-1d", Limit: 50, Window: 24 * time.Hour},
	}
	for _, bc := range []struct {
		name string
		keys int
	}{
		{"one key", 1},
		{"10k keys", 10_000},
		{"1M keys, evicting", 1_000_000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			clock := ratelimittest.NewClock(epoch)
			m := ratelimit.NewMemory(clock.Now, 0)
			keys := make([]string, bc.keys)
			for i := range keys {
				keys[i] = fmt.Sprintf("user%d", i)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := m.Hit(b.Context(), keys[i%len(keys)], rules...); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}
