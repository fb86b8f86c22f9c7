package ratelimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"wharf/internal/ratelimit"
	"wharf/internal/ratelimit/ratelimittest"
)

// testRedis connects to the Redis the tests use (WHARF_TEST_REDIS_ADDR, default 127.0.0.1:6379). Without one the
// test skips, unless WHARF_TEST_REQUIRE=1 says it must run, as in CI.
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	addr := os.Getenv("WHARF_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("WHARF_TEST_REQUIRE") == "1" {
			t.Fatalf("Redis at %s is required (WHARF_TEST_REQUIRE=1): %v", addr, err)
		}
		t.Skipf("no Redis at %s: %v", addr, err)
	}
	return c
}

// prefix returns a key prefix of the test's own and removes every key under it when the test ends.
func prefix(t *testing.T, c *redis.Client) string {
	b := make([]byte, 8)
	rand.Read(b)
	p := "wharf-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, p+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("scan %s*: %v", p, err)
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("clean up %s*: %v", p, err)
			}
		}
	})
	return p
}

func TestRedisConformance(t *testing.T) {
	c := testRedis(t)
	clock := ratelimittest.NewClock(epoch)
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter {
		return ratelimit.NewRedis(c, clock.Now, prefix(t, c))
	}, clock.Advance)
}

// TestRedisForgetsCounters checks that counters expire in Redis itself, by Redis's clock, so that an abandoned key
// does not stay for ever.
func TestRedisForgetsCounters(t *testing.T) {
	c := testRedis(t)
	p := prefix(t, c)
	l := ratelimit.NewRedis(c, ratelimittest.NewClock(epoch).Now, p)
	rule := ratelimit.Rule{Name: "short", Limit: 1, Window: 5 * time.Minute}
	if _, err := l.Hit(t.Context(), "Alice", rule); err != nil {
		t.Fatal(err)
	}
	ttl, err := c.PTTL(t.Context(), p+"short:alice").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 5*time.Minute || ttl > 5*time.Minute+time.Second {
		t.Errorf("TTL of the counter = %v, want just over the 5 min window", ttl)
	}
}

// TestRedisSharedBetweenInstances checks the point of the Redis backend: two instances see one count.
func TestRedisSharedBetweenInstances(t *testing.T) {
	c := testRedis(t)
	p := prefix(t, c)
	clock := ratelimittest.NewClock(epoch)
	a, b := ratelimit.NewRedis(c, clock.Now, p), ratelimit.NewRedis(c, clock.Now, p)
	rule := ratelimit.Rule{Name: "login-account", Limit: 2, Window: time.Minute}
	got := []bool{hit(t, a, "alice", rule).Allowed, hit(t, b, "alice", rule).Allowed, hit(t, a, "alice", rule).Allowed}
	if diff := cmp.Diff([]bool{true, true, false}, got); diff != "" {
		t.Errorf("allowed across two instances (-want +got):\n%s", diff)
	}
}
