package envconf_test

import (
	"fmt"

	"github.com/apimgw/apimgw/appliance/envconf"
)

func ExampleParse() {
	c, err := envconf.Parse("env.conf", []byte(`
config.service.endpoint=contoso.configuration.azure-api.net
config.service.auth=GatewayKey hybrid&202006031551&fsnFBO92zYDbDskDGxjNrdmIsdshZv7YMrnCCTWA58T8zVQ+aKI3tfioAAxVQTAjZUfEWDDGwdHZldze6slcZQ==
telemetry.metrics.local=statsd
telemetry.queue.max-bytes=1GiB
colour=blue
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Mode(), c.Endpoint)
	fmt.Println(c.GatewayName, c.Token.Expiry.Format("2006-01-02 15:04 MST"))
	fmt.Println(c.Token) // the signature is never printed
	fmt.Println(c.QueueMaxBytes, c.ListenHTTP)
	fmt.Println("ignored:", c.Ignored)
	for _, w := range c.Warnings {
		fmt.Println("warning:", w)
	}
	// Output:
	// connected https://contoso.configuration.azure-api.net
	// hybrid 2020-06-03 15:51 UTC
	// GatewayKey hybrid&202006031551&<signature elided>
	// 1073741824 :8080
	// ignored: [telemetry.metrics.local]
	// warning: env.conf:6: colour: unknown key, ignored
}

// The appliance's wiring: watch env.conf and the standalone snapshot file;
// re-read on change, keep the running config when the new one has errors.
func ExampleNewWatcher() {
	const path = "/etc/apimgw/env.conf"
	cfg, err := envconf.Load(path)
	if err != nil {
		fmt.Println("cannot start:", err)
		return
	}
	w, err := envconf.NewWatcher([]string{path, cfg.LocalPath}, func(changed string) {
		if changed != path {
			// re-apply the snapshot file cfg.LocalPath
			return
		}
		next, err := envconf.Load(path)
		if err != nil {
			// log err (it names file:line); keep cfg
			return
		}
		for _, key := range next.Changed(cfg) {
			if envconf.RestartOnly(key) {
				// log: key takes effect at the next start
			}
		}
		cfg = next // e.g. the sync agent picks up next.Token
	}, envconf.WatchOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
}

// A container's configuration: no env.conf, the keys as environment
// variables (as docker run --env-file passes them).
func ExampleLoadEnv() {
	c, err := envconf.LoadEnv("/nonexistent/env.conf", []string{
		"PATH=/usr/bin",
		"config.service.endpoint=https://apimcp.example.net",
		"config.service.auth=GatewayKey edge-1&203001010000&fsnFBO92zYDbDskDGxjNrdmIsdshZv7YMrnCCTWA58T8zVQ+aKI3tfioAAxVQTAjZUfEWDDGwdHZldze6slcZQ==",
		"lisen.http=:9090",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Endpoint, c.GatewayName, c.ListenHTTP)
	for _, w := range c.Warnings {
		fmt.Println("warning:", w)
	}
	for _, s := range c.Settings()[:3] {
		fmt.Printf("%s = %s (%s)\n", s.Key, s.Value, s.From)
	}
	// Output:
	// https://apimcp.example.net edge-1 :8080
	// warning: environment variable lisen.http: unknown key, ignored (did you mean listen.http?)
	// warning: environment variable lisen.http: listen.http is not set, so it keeps its default :8080: listening on all interfaces
	// config.service.endpoint = https://apimcp.example.net (environment)
	// config.service.auth = GatewayKey edge-1&203001010000&<signature elided> (environment)
	// config.service.auth.file =  (default)
}
