package wire

import (
	"strings"
	"testing"
	"time"
)

func TestParseISODuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"PT1M", time.Minute}, {"PT30S", 30 * time.Second}, {"PT0.5S", 500 * time.Millisecond},
		{"P1D", 24 * time.Hour}, {"P1DT2H3M4S", 26*time.Hour + 3*time.Minute + 4*time.Second}, {"PT1H", time.Hour},
		{"", 0}, {"P", 0}, {"PT", 0}, {"1M", 0}, {"PT1", 0}, {"P1H", 0}, {"PT1D", 0}, {"PT0S", 0}, {"PT1.5M", 0}, {"PTT1S", 0}, {"PT-1S", 0},
	} {
		got, err := ParseISODuration(c.in)
		if c.want == 0 {
			if err == nil {
				t.Errorf("%q: %v, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %v %v, want %v", c.in, got, err, c.want)
		}
	}
}

func FuzzParseISODuration(f *testing.F) {
	for _, s := range []string{"PT1M", "P1DT2H", "PT0.25S", "PT", "P1.5D"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseISODuration(s)
		if err == nil && (d <= 0 || !strings.HasPrefix(s, "P")) {
			t.Fatalf("%q: %v accepted", s, d)
		}
	})
}

func TestValidateBackends(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []Backend
		cert []Certificate
		want string // "" means valid
	}{
		{"single", []Backend{{ID: "a", URL: "https://a.example", Protocol: "http"}}, nil, ""},
		{"single without url", []Backend{{ID: "a", Protocol: "http"}}, nil, "backends[a].url"},
		{"pool", []Backend{{ID: "a", URL: "http://a", Protocol: "http"}, {ID: "p", Type: "Pool", Protocol: "http", Pool: &BackendPool{Services: []PoolService{{ID: "a"}}}}}, nil, ""},
		{"pool member missing", []Backend{{ID: "p", Type: "Pool", Protocol: "http", Pool: &BackendPool{Services: []PoolService{{ID: "zz"}}}}}, nil, `backend "zz" is not in the snapshot`},
		{"empty pool", []Backend{{ID: "p", Type: "Pool", Protocol: "http"}}, nil, "at least one member"},
		{"bad type", []Backend{{ID: "a", Type: "Cluster", URL: "http://a", Protocol: "http"}}, nil, "not Single or Pool"},
		{"http/2 over tls", []Backend{{ID: "a", URL: "https://a", Protocol: "http", HTTPVersion: "2"}}, nil, ""},
		{"h2c", []Backend{{ID: "a", URL: "http://a", Protocol: "http", HTTPVersion: "2"}}, nil, ""},
		{"auto over tls", []Backend{{ID: "a", URL: "https://a", Protocol: "http", HTTPVersion: "auto"}}, nil, ""},
		{"explicit 1.1", []Backend{{ID: "a", URL: "http://a", Protocol: "http", HTTPVersion: "1.1"}}, nil, ""},
		{"auto without tls", []Backend{{ID: "a", URL: "http://a", Protocol: "http", HTTPVersion: "auto"}}, nil, `backends[a].httpVersion: "auto" chooses by TLS ALPN`},
		{"unknown http version", []Backend{{ID: "a", URL: "https://a", Protocol: "http", HTTPVersion: "h2"}}, nil, `backends[a].httpVersion: "h2" is not one of 1.1, 2, auto`},
		{"http version on a pool", []Backend{{ID: "a", URL: "http://a", Protocol: "http"}, {ID: "p", Type: "Pool", Protocol: "http", HTTPVersion: "2", Pool: &BackendPool{Services: []PoolService{{ID: "a"}}}}}, nil, "set it on the member backends"},
		{"breaker", []Backend{{ID: "a", URL: "http://a", Protocol: "http", CircuitBreaker: &CircuitBreaker{Rules: []CircuitBreakerRule{{
			FailureCondition: FailureCondition{Count: 1, Interval: "PT1M", StatusCodeRanges: []StatusCodeRange{{500, 599}}}, TripDuration: "PT10S"}}}}}, nil, ""},
		{"breaker bad interval", []Backend{{ID: "a", URL: "http://a", Protocol: "http", CircuitBreaker: &CircuitBreaker{Rules: []CircuitBreakerRule{{
			FailureCondition: FailureCondition{Count: 1, Interval: "1m"}, TripDuration: "PT10S"}}}}}, nil, "failureCondition.interval"},
		{"breaker bad range", []Backend{{ID: "a", URL: "http://a", Protocol: "http", CircuitBreaker: &CircuitBreaker{Rules: []CircuitBreakerRule{{
			FailureCondition: FailureCondition{Count: 1, Interval: "PT1M", StatusCodeRanges: []StatusCodeRange{{600, 500}}}, TripDuration: "PT10S"}}}}}, nil, "statusCodeRanges[0]"},
		{"breaker percentage", []Backend{{ID: "a", URL: "http://a", Protocol: "http", CircuitBreaker: &CircuitBreaker{Rules: []CircuitBreakerRule{{
			FailureCondition: FailureCondition{Percentage: 50, Interval: "PT1M", ErrorReasons: []string{"Timeout"}}, TripDuration: "PT10S"}}}}}, nil, ""},
		{"breaker percentage over 100", []Backend{{ID: "a", URL: "http://a", Protocol: "http", CircuitBreaker: &CircuitBreaker{Rules: []CircuitBreakerRule{{
			FailureCondition: FailureCondition{Percentage: 101, Interval: "PT1M"}, TripDuration: "PT10S"}}}}}, nil, "percentage: 101 is not within 1-100"},
		{"breaker without count or percentage", []Backend{{ID: "a", URL: "http://a", Protocol: "http", CircuitBreaker: &CircuitBreaker{Rules: []CircuitBreakerRule{{
			FailureCondition: FailureCondition{Interval: "PT1M"}, TripDuration: "PT10S"}}}}}, nil, "count or percentage is required"},
		{"proxy", []Backend{{ID: "a", URL: "https://a", Protocol: "http", Proxy: &BackendProxy{URL: "http://p:3128", Username: "u", Password: "p"}}}, nil, ""},
		{"proxy https", []Backend{{ID: "a", URL: "http://a", Protocol: "http", Proxy: &BackendProxy{URL: "https://p:3128"}}}, nil, "TLS to the proxy is not supported"},
		{"proxy socks", []Backend{{ID: "a", URL: "http://a", Protocol: "http", Proxy: &BackendProxy{URL: "socks5://p:1080"}}}, nil, "the scheme must be http"},
		{"proxy user in url", []Backend{{ID: "a", URL: "http://a", Protocol: "http", Proxy: &BackendProxy{URL: "http://u:pw@p:3128"}}}, nil, "proxy.username and proxy.password"},
		{"proxy path", []Backend{{ID: "a", URL: "http://a", Protocol: "http", Proxy: &BackendProxy{URL: "http://p:3128/x"}}}, nil, "no path"},
		{"proxy username colon", []Backend{{ID: "a", URL: "http://a", Protocol: "http", Proxy: &BackendProxy{URL: "http://p:3128", Username: "a:b"}}}, nil, "may not contain ':'"},
		{"proxy on a pool", []Backend{{ID: "a", URL: "http://a", Protocol: "http"}, {ID: "p", Type: "Pool", Protocol: "http", Pool: &BackendPool{Services: []PoolService{{ID: "a"}}}, Proxy: &BackendProxy{URL: "http://p:3128"}}}, nil, "a pool has no proxy"},
		{"client certificate missing", []Backend{{ID: "a", URL: "https://a", Protocol: "http", Credentials: &BackendCredentials{CertificateIDs: []string{"c"}}}}, nil, `certificate "c" is not in the snapshot`},
		{"client certificate", []Backend{{ID: "a", URL: "https://a", Protocol: "http", Credentials: &BackendCredentials{CertificateIDs: []string{"c"}}}},
			[]Certificate{{ID: "c", CertificatePEM: "-----BEGIN CERTIFICATE-----\n..."}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Snapshot{ProtocolVersion: ProtocolVersion, Version: 1, Backends: c.b, Certificates: c.cert}
			err := s.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
}
