package controlplane

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/apimgw/apimgw/wire"
)

// Cache is /caches/{cacheId}: APIM's external cache (CacheContract). Its
// connectionString (StackExchange.Redis format, checked on write by
// wire.ParseRedisConnectionString) makes the cache policies of the gateways
// whose locationData.name is useFromLocation — or of every gateway, for
// "default", unless one names its location — use that Redis
// (wire.Snapshot.Cache). At most one cache per location.
//
// The connection string is a secret: it is never logged, and a GET shows it
// with the password masked (password=***). APIM shows a {{…}} reference to a
// secret named value it creates instead; this control plane keeps the
// string on the resource. A PUT that sends password=*** back (a GET, edited,
// PUT again) keeps the stored password.
type Cache struct {
	ConnectionString string `json:"connectionString"`
	UseFromLocation  string `json:"useFromLocation"`
	Description      string `json:"description,omitempty"`
	// ResourceID is informational (the Azure resource behind it).
	ResourceID string `json:"resourceId,omitempty"`
}

// Limits of CacheContractProperties (ARM's).
const (
	maxCacheConnectionString = 300
	maxCacheDescription      = 2000
	maxCacheResourceID       = 2000
	maxCacheLocation         = 256
	maskedPassword           = "***"
)

// passwordPart finds the password option of a connection string.
var passwordPart = regexp.MustCompile(`(?i)(^|,)(\s*password\s*=)([^,]*)`)

// maskConnectionString replaces the password's value with ***.
func maskConnectionString(s string) string {
	return passwordPart.ReplaceAllString(s, "${1}${2}"+maskedPassword)
}

// storedPassword returns the password of a stored connection string.
func storedPassword(s string) (string, bool) {
	m := passwordPart.FindStringSubmatch(s)
	if m == nil {
		return "", false
	}
	return m[3], true
}

var cacheKind = &kind[Cache]{
	name: "Cache", bucket: bucketCaches, armType: "Microsoft.ApiManagement/service/caches",
	table:    func(m *model) table[Cache] { return m.caches },
	newProps: func() *Cache { return &Cache{} },
	check: func(t *txn, key string, old, c *Cache) error {
		if err := idError(key); err != nil {
			return err
		}
		c.UseFromLocation = strings.TrimSpace(c.UseFromLocation)
		c.ConnectionString = strings.TrimSpace(c.ConnectionString) // from a file: its newline
		switch {
		case c.UseFromLocation == "":
			return invalidField("properties.useFromLocation", `is required: "default" or a gateway location (locationData.name)`)
		case len(c.UseFromLocation) > maxCacheLocation:
			return invalidField("properties.useFromLocation", "is longer than %d characters", maxCacheLocation)
		case len(c.Description) > maxCacheDescription:
			return invalidField("properties.description", "is longer than %d characters", maxCacheDescription)
		case len(c.ResourceID) > maxCacheResourceID:
			return invalidField("properties.resourceId", "is longer than %d characters", maxCacheResourceID)
		case strings.TrimSpace(c.ConnectionString) == "":
			return invalidField("properties.connectionString", "is required: host:port,password=…,ssl=True,abortConnect=False")
		}
		if pw, ok := storedPassword(c.ConnectionString); ok && strings.TrimSpace(pw) == maskedPassword {
			// The masked value a GET showed: keep the stored password.
			oldPW, had := "", false
			if old != nil {
				oldPW, had = storedPassword(old.ConnectionString)
			}
			if !had {
				return invalidField("properties.connectionString", "password=%s is the masked value a GET shows; send the password itself", maskedPassword)
			}
			c.ConnectionString = passwordPart.ReplaceAllLiteralString(c.ConnectionString, "") // re-added below, unescaped
			c.ConnectionString = strings.TrimPrefix(c.ConnectionString+",password="+oldPW, ",")
		}
		if len(c.ConnectionString) > maxCacheConnectionString {
			return invalidField("properties.connectionString", "is longer than %d characters", maxCacheConnectionString)
		}
		if _, err := wire.ParseRedisConnectionString(c.ConnectionString); err != nil {
			return invalidField("properties.connectionString", "%s", strings.TrimPrefix(err.Error(), wire.ErrConnectionString.Error()+": "))
		}
		for id, e := range t.m.caches {
			if id != key && strings.EqualFold(e.Props.UseFromLocation, c.UseFromLocation) {
				return conflict("Cache %q already serves location %q: one cache per location (delete it or change its useFromLocation first).", id, e.Props.UseFromLocation)
			}
		}
		return nil
	},
	remove: func(t *txn, key string, q url.Values) error { return nil },
	render: func(key string, c *Cache) any {
		r := *c
		r.ConnectionString = maskConnectionString(c.ConnectionString)
		return &r
	},
}

// snapshotCache is the cache of gateway gw's location (or "default"), as the
// snapshot carries it; "" id when none.
func snapshotCache(m *model, gw string) *wire.ExternalCache {
	loc := gw
	if g, ok := m.gateways[gw]; ok && g.Props.LocationData.Name != "" {
		loc = g.Props.LocationData.Name
	}
	var def *wire.ExternalCache
	for _, id := range m.caches.sortedKeys() {
		c := m.caches[id].Props
		ec := &wire.ExternalCache{ID: id, ConnectionString: c.ConnectionString, UseFromLocation: c.UseFromLocation}
		if strings.EqualFold(c.UseFromLocation, loc) {
			return ec
		}
		if strings.EqualFold(c.UseFromLocation, wire.DefaultCacheLocation) {
			def = ec
		}
	}
	return def
}

// cacheGroup is the part of a gateway's snapshot content its location
// decides (hub.prepare groups gateways by content).
func cacheGroup(m *model, gw string) string {
	if ec := snapshotCache(m, gw); ec != nil {
		return ec.ID
	}
	return ""
}
