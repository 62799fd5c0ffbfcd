package status

// Setting is one configuration key of the gateway, its effective value and
// where that value came from: "default", a line of env.conf
// ("/etc/apimgw/env.conf:3"), "environment" (a variable of the key's name,
// as a container gets them), or "file PATH" for a token read from a file.
// Value never holds a secret (the token shows its gateway id and expiry).
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	From  string `json:"from"`
}
