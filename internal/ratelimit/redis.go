package ratelimit

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed sliding.lua
var slidingLua string

// sliding runs by its SHA and loads itself once per Redis server when missing.
var sliding = redis.NewScript(slidingLua)

// DefaultRedisPrefix is the key prefix NewRedis uses when given none.
const DefaultRedisPrefix = "wharf:ratelimit:"

// Redis is the Limiter that several wharf instances share. Each call is one Lua script, so that the decision and
// the count for all rules are one atomic step whichever instance serves the request. Stamps are in microseconds.
//
// It takes a *redis.Client, one server or a Sentinel-managed primary: the keys of one call are not hash-tagged for
// Redis Cluster.
type Redis struct {
	client *redis.Client
	now    func() time.Time
	prefix string
}

// NewRedis returns a limiter that keeps its counters in Redis under prefix (DefaultRedisPrefix when empty) and
// takes the time from now, not from the Redis server.
func NewRedis(client *redis.Client, now func() time.Time, prefix string) *Redis {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &Redis{client: client, now: now, prefix: prefix}
}

// Check implements Limiter.
func (r *Redis) Check(ctx context.Context, key string, rules ...Rule) (Decision, error) {
	return r.do(ctx, key, rules, false)
}

// Hit implements Limiter.
func (r *Redis) Hit(ctx context.Context, key string, rules ...Rule) (Decision, error) {
	return r.do(ctx, key, rules, true)
}

func (r *Redis) do(ctx context.Context, key string, rules []Rule, record bool) (Decision, error) {
	if err := validate(rules); err != nil {
		return Decision{}, err
	}
	keys := r.keys(key, rules)
	args := make([]any, 0, 2+2*len(rules))
	flag := "0"
	if record {
		flag = "1"
	}
	args = append(args, strconv.FormatInt(r.now().UnixMicro(), 10), flag)
	for _, rule := range rules {
		args = append(args, strconv.Itoa(rule.Limit), strconv.FormatInt(rule.Window.Microseconds(), 10))
	}
	res, err := sliding.Run(ctx, r.client, keys, args...).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(res) != len(rules) {
		return Decision{}, fmt.Errorf("ratelimit: redis: script returned %d values for %d rules", len(res), len(rules))
	}
	waits := make([]time.Duration, len(res))
	for i, us := range res {
		waits[i] = time.Duration(us) * time.Microsecond
	}
	return combine(rules, waits), nil
}

// Reset implements Limiter.
func (r *Redis) Reset(ctx context.Context, key string, rules ...Rule) error {
	if err := validate(rules); err != nil {
		return err
	}
	if err := r.client.Del(ctx, r.keys(key, rules)...).Err(); err != nil {
		return fmt.Errorf("ratelimit: redis: %w", err)
	}
	return nil
}

func (r *Redis) keys(key string, rules []Rule) []string {
	k := storageKey(key)
	keys := make([]string, len(rules))
	for i, rule := range rules {
		keys[i] = r.prefix + rule.Name + ":" + k
	}
	return keys
}
