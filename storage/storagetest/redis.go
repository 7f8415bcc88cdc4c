package storagetest

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis databases 1–15 of TEST_REDIS_URL are lent to tests one at a time; database 0 is left to `make run`.
const (
	firstTestDB = 1
	lastTestDB  = 15
	leaseKey    = "ssosetup-test:lease:db:"
	leaseTTL    = 15 * time.Minute
)

// RedisURL leases a Redis database index that no other running test holds, empties it, and returns its URL;
// the lease ends (and the database is emptied again) when the test ends. Leases live in database 0 so that
// test processes of different packages see each other's.
func RedisURL(t testing.TB) string {
	t.Helper()
	base := envOr("TEST_REDIS_URL", DefaultRedisURL)
	opts, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	ctx := context.Background()
	leases := redis.NewClient(opts)
	defer leases.Close()
	owner := uniqueName("")
	deadline := time.Now().Add(leaseTTL)
	for {
		for db := firstTestDB; db <= lastTestDB; db++ {
			ok, err := leases.SetNX(ctx, leaseKey+strconv.Itoa(db), owner, leaseTTL).Result()
			if err != nil {
				t.Fatalf("TEST_REDIS_URL: %v (run `scripts/services.sh up`)", err)
			}
			if ok {
				return leaseDB(t, base, opts, db, owner)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no free Redis test database within 15 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func leaseDB(t testing.TB, base string, opts *redis.Options, db int, owner string) string {
	dbOpts := *opts
	dbOpts.DB = db
	flush := func() error {
		c := redis.NewClient(&dbOpts)
		defer c.Close()
		return c.FlushDB(context.Background()).Err()
	}
	if err := flush(); err != nil {
		t.Fatalf("flush Redis db %d: %v", db, err)
	}
	t.Cleanup(func() {
		if err := flush(); err != nil {
			t.Errorf("flush Redis db %d: %v", db, err)
		}
		c := redis.NewClient(opts)
		defer c.Close()
		// Release only our own lease.
		c.Eval(context.Background(), `if redis.call("GET", KEYS[1]) == ARGV[1] then redis.call("DEL", KEYS[1]) end`,
			[]string{leaseKey + strconv.Itoa(db)}, owner)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = fmt.Sprintf("/%d", db)
	return u.String()
}
