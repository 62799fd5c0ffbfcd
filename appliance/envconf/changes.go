package envconf

import "fmt"

// restartOnly are the keys whose new value takes effect only at the next
// start: they size or bind resources opened once (listeners, the store).
var restartOnly = map[string]bool{
	"listen.http":                     true,
	"listen.https":                    true,
	"listen.https.certificate":        true,
	"listen.https.key":                true,
	"status.listen":                   true,
	"store.path":                      true,
	"store.snapshots.keep":            true,
	"telemetry.queue.max-bytes":       true,
	"telemetry.queue.commit-interval": true,
	"policy.body.max-bytes":           true,
	"policy.body.max-total-bytes":     true,
	// The Redis connection is opened once, at start.
	"policy.rate-limit.redis.url":           true,
	"policy.rate-limit.redis.password.file": true,
	"policy.rate-limit.redis.ca":            true,
	"policy.rate-limit.redis.mode":          true,
	"policy.managed-identity.protocol":      true,
	"policy.managed-identity.endpoint":      true,
	// The threads' scheduling policy is set once, at start.
	"process.scheduling": true,
}

// RestartOnly reports whether a changed key takes effect only after a
// restart (docs/configuration.md, "Changes while running").
func RestartOnly(key string) bool { return restartOnly[key] }

// Changed lists the keys whose effective value differs between prev and c
// (defaults included), in a fixed order. A nil prev means everything changed.
// The token compares by value; its signature never appears in the result.
func (c *Config) Changed(prev *Config) []string {
	if prev == nil {
		prev = &Config{}
	}
	now, then := c.values(), prev.values()
	var out []string
	for i, p := range now {
		if fmt.Sprint(p.val) != fmt.Sprint(then[i].val) {
			out = append(out, p.key)
		}
	}
	return out
}

type keyValue struct {
	key string
	val any
}

// values lists every key apimgw acts on with its effective value, in a fixed
// order. The token is its full value (compare only; never print it).
func (c *Config) values() []keyValue {
	tok := ""
	if c.Token != nil {
		tok = c.Token.Value()
	}
	return []keyValue{
		{"config.service.endpoint", c.Endpoint},
		{"config.service.auth", tok},
		{"config.service.auth.file", c.AuthFile},
		{"config.service.endpoint.disableCertificateValidation", c.DisableCertificateValidation},
		{"config.service.ca", c.CAFile},
		{"backend.tls.ca", c.BackendCAFile},
		{"config.service.integration.timeout", c.IntegrationTimeout},
		{"config.local.path", c.LocalPath},
		{"gateway.name", c.GatewayName},
		{"listen.http", c.ListenHTTP},
		{"listen.https.certificate", c.TLSCertFile},
		{"listen.https.key", c.TLSKeyFile},
		{"listen.https", c.ListenHTTPS},
		{"status.listen", c.StatusListen},
		{"store.path", c.StorePath},
		{"store.snapshots.keep", c.SnapshotsKeep},
		{"telemetry.queue.max-bytes", c.QueueMaxBytes},
		{"policy.body.max-bytes", c.BodyMaxBytes},
		{"policy.body.max-total-bytes", c.BodyMaxTotalBytes},
		{"telemetry.queue.commit-interval", c.CommitInterval},
		{"telemetry.logs.std", c.LogsStd},
		{"telemetry.logs.std.level", c.LogLevel},
		{"heartbeat.interval", c.HeartbeatInterval},
		{"policy.rate-limit.max-keys", c.RateLimitMaxKeys},
		{"policy.rate-limit.redis.url", c.RedisURL},
		{"policy.rate-limit.redis.password.file", c.RedisPasswordFile},
		{"policy.rate-limit.redis.ca", c.RedisCAFile},
		{"policy.rate-limit.redis.mode", redisMode(c.RedisApproximate)},
		{"net.server.http.forwarded.proto.enabled", c.ForwardedProto},
		{"policy.managed-identity.protocol", c.IdentityProtocol},
		{"policy.managed-identity.endpoint", c.IdentityEndpoint},
		{"process.scheduling", c.Scheduling},
	}
}

// redisMode is policy.rate-limit.redis.mode's effective value.
func redisMode(approximate bool) string {
	if approximate {
		return "approximate"
	}
	return "exact"
}
