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
	tok := func(t *Token) string {
		if t == nil {
			return ""
		}
		return t.Value()
	}
	pairs := []struct {
		key       string
		now, then any
	}{
		{"config.service.endpoint", c.Endpoint, prev.Endpoint},
		{"config.service.auth", tok(c.Token), tok(prev.Token)},
		{"config.service.endpoint.disableCertificateValidation", c.DisableCertificateValidation, prev.DisableCertificateValidation},
		{"config.service.ca", c.CAFile, prev.CAFile},
		{"config.service.integration.timeout", c.IntegrationTimeout, prev.IntegrationTimeout},
		{"config.local.path", c.LocalPath, prev.LocalPath},
		{"gateway.name", c.GatewayName, prev.GatewayName},
		{"listen.http", c.ListenHTTP, prev.ListenHTTP},
		{"listen.https.certificate", c.TLSCertFile, prev.TLSCertFile},
		{"listen.https.key", c.TLSKeyFile, prev.TLSKeyFile},
		{"listen.https", c.ListenHTTPS, prev.ListenHTTPS},
		{"status.listen", c.StatusListen, prev.StatusListen},
		{"store.path", c.StorePath, prev.StorePath},
		{"store.snapshots.keep", c.SnapshotsKeep, prev.SnapshotsKeep},
		{"telemetry.queue.max-bytes", c.QueueMaxBytes, prev.QueueMaxBytes},
		{"policy.body.max-bytes", c.BodyMaxBytes, prev.BodyMaxBytes},
		{"telemetry.queue.commit-interval", c.CommitInterval, prev.CommitInterval},
		{"telemetry.logs.std", c.LogsStd, prev.LogsStd},
		{"telemetry.logs.std.level", c.LogLevel, prev.LogLevel},
		{"heartbeat.interval", c.HeartbeatInterval, prev.HeartbeatInterval},
		{"net.server.http.forwarded.proto.enabled", c.ForwardedProto, prev.ForwardedProto},
	}
	var out []string
	for _, p := range pairs {
		if fmt.Sprint(p.now) != fmt.Sprint(p.then) {
			out = append(out, p.key)
		}
	}
	return out
}
