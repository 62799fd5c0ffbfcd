package status

import (
	"encoding/json"
	"strings"
	"testing"
)

// The page and /status.json show every setting with where it came from.
func TestSettingsShown(t *testing.T) {
	src := &fakeSource{facts: hybridFacts()}
	src.set(func(f *Facts) {
		f.Settings = []Setting{
			{Key: "listen.http", Value: ":8080", From: "environment"},
			{Key: "status.listen", Value: "127.0.0.1:8090", From: "default"},
			{Key: "config.service.auth", Value: "GatewayKey gw1&202612311200&<signature elided>", From: "file /run/secrets/apimgw/token"},
		}
	})
	s := newTestServer(t, src, nil)
	page := do(t, s, "GET", "/", nil, nil).Body.String()
	for _, want := range []string{`id="settings"`, "<td><code>listen.http</code></td><td><code>:8080</code></td><td>environment</td>",
		`<td class="mute">default</td>`, "file /run/secrets/apimgw/token"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	var got struct {
		Settings []Setting `json:"settings"`
	}
	if err := json.Unmarshal(do(t, s, "GET", "/status.json", nil, nil).Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Settings) != 3 || got.Settings[0] != (Setting{Key: "listen.http", Value: ":8080", From: "environment"}) {
		t.Fatalf("status.json settings %+v", got.Settings)
	}
}
