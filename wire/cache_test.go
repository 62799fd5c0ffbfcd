package wire

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRedisConnectionString(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     RedisConn
		err      string // a part of the message; "" means valid
	}{
		{name: "azure", in: "apim.redis.cache.windows.net:6380,password=xc,ssl=True,abortConnect=False",
			want: RedisConn{Addr: "apim.redis.cache.windows.net:6380", Password: "xc", SSL: true}},
		{name: "plain", in: "127.0.0.1:6379", want: RedisConn{Addr: "127.0.0.1:6379"}},
		{name: "default port", in: "redis", want: RedisConn{Addr: "redis:6379"}},
		{name: "default tls port", in: "redis,ssl=true", want: RedisConn{Addr: "redis:6380", SSL: true}},
		{name: "ipv6", in: "[::1]:7000,password=a=b", want: RedisConn{Addr: "[::1]:7000", Password: "a=b"}},
		{name: "options", in: " r:1 , User=u, sslHost=x.example, defaultDatabase=3, connectTimeout=250, syncTimeout=1000, connectRetry=3, name=gw ",
			want: RedisConn{Addr: "r:1", User: "u", SSLHost: "x.example", DB: 3, ConnectTimeout: 250 * time.Millisecond, SyncTimeout: time.Second}},
		{name: "empty", in: "", err: "no endpoint"},
		{name: "only options", in: "password=x", err: "no endpoint"},
		{name: "two endpoints", in: "a:1,b:2,password=x", err: "2 endpoints"},
		{name: "bad port", in: "a:99999", err: `port "99999"`},
		{name: "bad host", in: "a b:1", err: "not a host name"},
		{name: "bad ssl", in: "a:1,ssl=yes", err: `ssl="yes"`},
		{name: "bad db", in: "a:1,defaultDatabase=99", err: "defaultDatabase"},
		{name: "bad timeout", in: "a:1,syncTimeout=-1", err: "synctimeout"},
		{name: "unknown", in: "a:1,password=secret,colour=blue", err: `unknown option "colour"`},
		{name: "sentinel", in: "a:1,serviceName=m", err: "Sentinel"},
		{name: "unbracketed ipv6", in: "::1", err: "not host:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRedisConnectionString(tc.in)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrConnectionString) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want ErrConnectionString naming %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func FuzzParseRedisConnectionString(f *testing.F) {
	for _, s := range []string{"apim.redis.cache.windows.net:6380,password=xc,ssl=True,abortConnect=False", "a", "[::1]:1,ssl=false", ",,=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rc, err := ParseRedisConnectionString(s)
		if err == nil && rc.Addr == "" {
			t.Fatalf("%q: valid without an address", s)
		}
	})
}

func TestSnapshotCacheValidated(t *testing.T) {
	s := &Snapshot{ProtocolVersion: ProtocolVersion, Cache: &ExternalCache{ID: "c1", ConnectionString: "a:1,bogus=1"}}
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), "cache[c1].connectionString") {
		t.Fatalf("Validate = %v, want the cache's connection string named", err)
	}
	s.Cache.ConnectionString = "a:1,abortConnect=False"
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
}
