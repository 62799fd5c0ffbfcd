package wire

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// ExternalCache is the external (Redis) cache a gateway's cache policies use
// for caching-type external and prefer-external: the control plane's
// /caches/{cacheId} resource whose useFromLocation is the gateway's location
// (locationData.name), or else the one for "default". A snapshot carries at
// most one; none means the built-in cache only.
type ExternalCache struct {
	// ID is the cache resource's id.
	ID string `json:"id"`
	// ConnectionString is StackExchange.Redis's format, as APIM takes it:
	// host:port,password=…,ssl=True,abortConnect=False (see
	// ParseRedisConnectionString). It is a secret: never log it.
	ConnectionString string `json:"connectionString"`
	// UseFromLocation is the location the resource was chosen for
	// ("default" or the gateway's location), for the status page.
	UseFromLocation string `json:"useFromLocation"`
}

// DefaultCacheLocation is the useFromLocation of a cache every gateway uses
// unless one names its own location.
const DefaultCacheLocation = "default"

// ErrConnectionString: a cache's connection string cannot be used. The
// wrapping error names the part at fault, never the password.
var ErrConnectionString = errors.New("wire: invalid Redis connection string")

// RedisConn is a parsed StackExchange.Redis connection string.
type RedisConn struct {
	// Addr is host:port (port 6379, or 6380 with ssl, when omitted).
	Addr     string
	User     string
	Password string
	// SSL: TLS to Redis (ssl=True); SSLHost overrides the name the
	// server's certificate is checked against (sslHost=…).
	SSL     bool
	SSLHost string
	// DB is defaultDatabase (0 when omitted).
	DB int
	// ConnectTimeout and SyncTimeout (milliseconds in the string; 0: the
	// gateway's defaults) bound a dial and a round trip.
	ConnectTimeout, SyncTimeout time.Duration
}

// redisIgnored are StackExchange.Redis options that change nothing for one
// plain connection: accepted and ignored. abortConnect=False is what APIM's
// portal writes; the gateway never refuses to start over an unreachable cache
// anyway (lookups miss until it answers).
var redisIgnored = map[string]bool{
	"abortconnect": true, "allowadmin": true, "connectretry": true, "name": true, "keepalive": true,
	"resolvedns": true, "asynctimeout": true, "responsetimeout": true, "checkcertificaterevocation": true,
	"writebuffer": true, "version": true, "tiebreaker": true, "configchannel": true, "configcheckseconds": true,
	"sslprotocols": true, "highprioritysocketthreads": true, "setlib": true, "protocol": true,
}

// redisRefused change what a connection means in ways the gateway does not
// implement; they are refused rather than ignored.
var redisRefused = map[string]string{
	"servicename":   "Redis Sentinel (serviceName) is not supported: give the master's host:port",
	"proxy":         "proxies (twemproxy, envoyproxy) are not supported: give the Redis host:port",
	"channelprefix": "channelPrefix is not supported (the cache uses no pub/sub)",
}

// ParseRedisConnectionString parses StackExchange.Redis's comma-separated
// format: one endpoint (host:port, [ipv6]:port, or host) followed by
// key=value options (case-insensitive keys): password, user, ssl, sslHost,
// defaultDatabase, connectTimeout, syncTimeout (ms). Options that only tune
// StackExchange.Redis itself (abortConnect, connectRetry, …) are accepted
// and ignored; serviceName, proxy and channelPrefix, and more than one
// endpoint (a cluster), are refused. Errors wrap ErrConnectionString and name
// the part at fault without repeating the password.
func ParseRedisConnectionString(s string) (RedisConn, error) {
	var rc RedisConn
	bad := func(format string, args ...any) (RedisConn, error) {
		return RedisConn{}, fmt.Errorf("%w: %s", ErrConnectionString, fmt.Sprintf(format, args...))
	}
	var endpoints []string
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, isOpt := strings.Cut(part, "=")
		if !isOpt {
			endpoints = append(endpoints, part)
			continue
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case "password":
			rc.Password = v
		case "user":
			rc.User = v
		case "ssl":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad("part %d: ssl=%q is not True or False", i+1, v)
			}
			rc.SSL = b
		case "sslhost":
			rc.SSLHost = v
		case "defaultdatabase":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 15 {
				return bad("part %d: defaultDatabase=%q is not a database number 0-15", i+1, v)
			}
			rc.DB = n
		case "connecttimeout", "synctimeout":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > 600_000 {
				return bad("part %d: %s=%q is not a number of milliseconds in [1, 600000]", i+1, k, v)
			}
			if k == "connecttimeout" {
				rc.ConnectTimeout = time.Duration(n) * time.Millisecond
			} else {
				rc.SyncTimeout = time.Duration(n) * time.Millisecond
			}
		default:
			if why, ok := redisRefused[k]; ok {
				return bad("part %d: %s", i+1, why)
			}
			if !redisIgnored[k] {
				return bad("part %d: unknown option %q (expected host:port, then password=, ssl=, user=, sslHost=, defaultDatabase=, connectTimeout=, syncTimeout=, abortConnect=…)", i+1, k)
			}
		}
	}
	switch len(endpoints) {
	case 0:
		return bad("no endpoint: it must start with host:port (e.g. redis.example:6380,password=…,ssl=True,abortConnect=False)")
	case 1:
	default:
		return bad("%d endpoints: only one Redis endpoint is supported (no cluster or replica list)", len(endpoints))
	}
	ep := endpoints[0]
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		if strings.Contains(strings.Trim(ep, "[]"), ":") && !strings.HasPrefix(ep, "[") {
			return bad("endpoint %q is not host:port", ep)
		}
		host, port = strings.Trim(ep, "[]"), "6379"
		if rc.SSL {
			port = "6380"
		}
	}
	if host == "" || strings.ContainsAny(host, " /@?#") {
		return bad("endpoint %q: the host is empty or not a host name", ep)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return bad("endpoint %q: port %q is not a number in [1, 65535]", ep, port)
	}
	rc.Addr = net.JoinHostPort(host, port)
	return rc, nil
}

// validateCache checks a snapshot's external cache.
func validateCache(c *ExternalCache, bad func(string, ...any)) {
	if c == nil {
		return
	}
	if err := checkID(c.ID); err != nil {
		bad("cache.id: %v", err)
	}
	if _, err := ParseRedisConnectionString(c.ConnectionString); err != nil {
		bad("cache[%s].connectionString: %v", c.ID, err)
	}
}
