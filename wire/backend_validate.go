package wire

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// validateBackend checks one backend entity's own fields (references to
// other backends and certificates are checked by Validate).
func validateBackend(b Backend, bad func(string, ...any)) {
	switch b.Type {
	case "", "Single":
		if u, err := url.Parse(b.URL); err != nil || u.Scheme == "" || u.Host == "" {
			bad("backends[%s].url: %q is not an absolute URL", b.ID, b.URL)
		}
		if b.Pool != nil {
			bad("backends[%s].pool: only a backend of type Pool has members", b.ID)
		}
	case "Pool":
		if b.Pool == nil || len(b.Pool.Services) == 0 {
			bad("backends[%s].pool.services: a pool needs at least one member", b.ID)
		} else {
			for j, m := range b.Pool.Services {
				if m.ID == b.ID {
					bad("backends[%s].pool.services[%d]: a pool cannot contain itself", b.ID, j)
				}
				if m.Priority < 0 || m.Weight < 0 {
					bad("backends[%s].pool.services[%d]: priority and weight must not be negative", b.ID, j)
				}
			}
		}
	default:
		bad("backends[%s].type: %q is not Single or Pool", b.ID, b.Type)
	}
	validateHTTPVersion(b, bad)
	if p := b.Proxy; p != nil {
		if b.Type == "Pool" {
			bad("backends[%s].proxy: a pool has no proxy of its own (set it on its members)", b.ID)
		}
		validateProxy(b.ID, p, bad)
	}
	if cb := b.CircuitBreaker; cb != nil {
		if len(cb.Rules) != 1 {
			bad("backends[%s].circuitBreaker.rules: exactly one rule is supported (APIM allows one)", b.ID)
		}
		for j, r := range cb.Rules {
			fc := r.FailureCondition
			switch {
			case fc.Count < 0:
				bad("backends[%s].circuitBreaker.rules[%d].failureCondition.count: must not be negative", b.ID, j)
			case fc.Percentage < 0 || fc.Percentage > 100:
				bad("backends[%s].circuitBreaker.rules[%d].failureCondition.percentage: %d is not within 1-100", b.ID, j, fc.Percentage)
			case fc.Count == 0 && fc.Percentage == 0:
				bad("backends[%s].circuitBreaker.rules[%d].failureCondition: count or percentage is required", b.ID, j)
			}

			if _, err := ParseISODuration(r.FailureCondition.Interval); err != nil {
				bad("backends[%s].circuitBreaker.rules[%d].failureCondition.interval: %v", b.ID, j, err)
			}
			if _, err := ParseISODuration(r.TripDuration); err != nil {
				bad("backends[%s].circuitBreaker.rules[%d].tripDuration: %v", b.ID, j, err)
			}
			for k, sr := range r.FailureCondition.StatusCodeRanges {
				if sr.Min < 100 || sr.Max > 599 || sr.Min > sr.Max {
					bad("backends[%s].circuitBreaker.rules[%d].failureCondition.statusCodeRanges[%d]: %d-%d is not a range within 100-599", b.ID, j, k, sr.Min, sr.Max)
				}
			}
		}
	}
	if c := b.Credentials; c != nil {
		for name := range c.Header {
			if name == "" || strings.ContainsAny(name, " \t\r\n:") {
				bad("backends[%s].credentials.header: %q is not a header name", b.ID, name)
			}
		}
		if a := c.Authorization; a != nil && (a.Scheme == "" || strings.ContainsAny(a.Scheme+a.Parameter, "\r\n")) {
			bad("backends[%s].credentials.authorization: scheme is required; no line breaks", b.ID)
		}
	}
}

// HTTPVersions are the values of Backend.HTTPVersion.
var HTTPVersions = []string{"1.1", "2", "auto"}

// validateHTTPVersion checks Backend.HTTPVersion against the URL's scheme.
func validateHTTPVersion(b Backend, bad func(string, ...any)) {
	switch b.HTTPVersion {
	case "", "1.1":
		return
	case "2", "auto":
	default:
		bad("backends[%s].httpVersion: %q is not one of %s (or empty for 1.1)", b.ID, b.HTTPVersion, strings.Join(HTTPVersions, ", "))
		return
	}
	if b.Type == "Pool" {
		bad("backends[%s].httpVersion: a pool has no HTTP version of its own; set it on the member backends", b.ID)
		return
	}
	if b.HTTPVersion == "auto" && !strings.HasPrefix(strings.ToLower(b.URL), "https://") {
		bad("backends[%s].httpVersion: \"auto\" chooses by TLS ALPN and needs an https URL; for h2c (HTTP/2 with prior knowledge) to %s use \"2\"", b.ID, b.URL)
	}
}

// KnownErrorReasons returns the entries of reasons that select failures
// (ReasonBackendConnectionFailure, ReasonTimeout; matched without regard to
// case), in their canonical spelling.
func KnownErrorReasons(reasons []string) []string {
	var out []string
	for _, r := range reasons {
		switch {
		case strings.EqualFold(strings.TrimSpace(r), ReasonBackendConnectionFailure):
			out = append(out, ReasonBackendConnectionFailure)
		case strings.EqualFold(strings.TrimSpace(r), ReasonTimeout):
			out = append(out, ReasonTimeout)
		}
	}
	return out
}

// validateProxy checks a backend's proxy: an http URL with a host (TLS to
// the proxy itself is not supported), no user or password inside the URL
// (they belong in username/password, which are kept secret), no path.
func validateProxy(id string, p *BackendProxy, bad func(string, ...any)) {
	u, err := url.Parse(p.URL)
	switch {
	case err != nil || u.Host == "" || u.Hostname() == "":
		bad("backends[%s].proxy.url: %q is not an absolute URL such as http://proxy.example:3128", id, p.URL)
	case u.Scheme == "https":
		bad("backends[%s].proxy.url: %q: TLS to the proxy is not supported; use an http:// proxy URL (https backends are still tunnelled end to end with CONNECT)", id, p.URL)
	case u.Scheme != "http":
		bad("backends[%s].proxy.url: %q: the scheme must be http", id, p.URL)
	case u.User != nil:
		bad("backends[%s].proxy.url: put the proxy's user and password in proxy.username and proxy.password, not in the URL", id)
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "":
		bad("backends[%s].proxy.url: %q: a proxy URL has no path, query or fragment", id, p.URL)
	}
	if strings.ContainsAny(p.Username, ":\r\n") || strings.ContainsAny(p.Password, "\r\n") {
		bad("backends[%s].proxy: the username may not contain ':' and neither may contain line breaks", id)
	}
	if p.Password != "" && p.Username == "" {
		bad("backends[%s].proxy.password: a password needs a username", id)
	}
}

// ParseISODuration reads the ISO 8601 durations APIM's backend entities use
// (PnDTnHnMnS, e.g. "PT1M", "PT30S", "P1DT2H"; seconds may have a fraction).
// The result is positive.
func ParseISODuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%w: %q is not an ISO 8601 duration such as PT30S, PT1M or P1D", ErrInvalidSnapshot, s)
	if len(s) < 3 || s[0] != 'P' {
		return 0, bad
	}
	rest := s[1:]
	var d time.Duration
	inTime := false
	for len(rest) > 0 {
		if rest[0] == 'T' {
			if inTime || len(rest) == 1 {
				return 0, bad
			}
			inTime = true
			rest = rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) || i > 12 {
			return 0, bad
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, bad
		}
		unit := rest[i]
		rest = rest[i+1:]
		if unit != 'S' && n != float64(int64(n)) {
			return 0, bad // only seconds may have a fraction
		}
		var u time.Duration
		switch {
		case unit == 'D' && !inTime:
			u = 24 * time.Hour
		case unit == 'H' && inTime:
			u = time.Hour
		case unit == 'M' && inTime:
			u = time.Minute
		case unit == 'S' && inTime:
			u = time.Second
		default:
			return 0, bad
		}
		d += time.Duration(n * float64(u))
	}
	if d <= 0 {
		return 0, bad
	}
	return d, nil
}
