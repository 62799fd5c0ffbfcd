package envconf

import "testing"

func TestBackendCAKey(t *testing.T) {
	c, err := Parse("env.conf", []byte("config.local.path=/srv/s.json\nbackend.tls.ca=/etc/apimgw/backend-ca.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.BackendCAFile != "/etc/apimgw/backend-ca.pem" || !Honoured("backend.tls.ca") || RestartOnly("backend.tls.ca") {
		t.Fatalf("backend.tls.ca = %q", c.BackendCAFile)
	}
	d, _ := Parse("env.conf", []byte("config.local.path=/srv/s.json\n"))
	if ch := c.Changed(d); len(ch) != 1 || ch[0] != "backend.tls.ca" {
		t.Fatalf("changed %v", ch)
	}
}
