package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/apimgw/apimgw/wire"
)

// flagSpec maps one command-line flag onto a property.
type flagSpec struct {
	flag, prop, help string
	kind             string // "string" (default), "bool", "list", "key" (subscriptionKeyParameterNames.<x>), "location"
}

// resDef describes one kind of resource for the generic commands.
type resDef struct {
	name    string
	aliases []string
	// parent is the flag naming the parent resource ("api" for operations).
	parent  string
	coll    func(parent string) string
	columns []column
	flags   []flagSpec
	// defaults are properties create sets when neither flags nor file do.
	defaults map[string]any
	// extra are resource-specific subcommands.
	extra map[string]func(g *globals, fs *flag.FlagSet, args []string) int
	// fillCreate completes properties before a create (e.g. template parameters).
	fillCreate func(p map[string]any)
	// what is the resource in words ("an API"); example is the ID and flags
	// of a typical create, for the help.
	what, example string
}

// resourceSubs lists d's subcommands: the five every resource has, then its
// extras, sorted.
func resourceSubs(d *resDef) []string {
	subs := []string{"list", "get", "create", "update", "delete"}
	var extra []string
	for k := range d.extra {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	return append(subs, extra...)
}

// registerResourceHelp registers the help of d's five standard subcommands.
func registerResourceHelp(d *resDef) {
	par, parEx := "", ""
	if d.parent != "" {
		par, parEx = " --"+d.parent+" "+strings.ToUpper(d.parent), " --"+d.parent+" hybrid"
	}
	id := strings.Fields(d.example)[0]
	first := ""
	if len(d.flags) > 0 {
		first = " --" + d.flags[0].flag + " 'New " + d.flags[0].help + "'"
	}
	noun := strings.TrimPrefix(strings.TrimPrefix(d.what, "an "), "a ")
	registerHelp(d.name+" list", Help{Usage: d.name + " list" + par, Summary: "Lists every " + noun + " (GET).", Example: "apimctl " + d.name + " list" + parEx})
	registerHelp(d.name+" get", Help{Usage: d.name + " get NAME" + par, Summary: "Shows " + d.what + " (GET).", Example: "apimctl " + d.name + " get " + id + parEx})
	registerHelp(d.name+" create", Help{Usage: d.name + " create NAME" + par + " [flags | -f FILE.json]",
		Summary: "Creates or replaces " + d.what + " (PUT); flags override what -f FILE.json gives.",
		Example: "apimctl " + d.name + " create " + d.example + parEx})
	registerHelp(d.name+" update", Help{Usage: d.name + " update NAME" + par + " [flags | -f FILE.json]",
		Summary: "Changes only the given properties of " + d.what + " (PATCH).", Example: "apimctl " + d.name + " update " + id + first + parEx})
	registerHelp(d.name+" delete", Help{Usage: d.name + " delete NAME" + par, Summary: "Deletes " + d.what + "; deleting one that does not exist succeeds and says so.",
		Example: "apimctl " + d.name + " delete " + id + parEx})
}

type column struct {
	header string
	path   string // dotted path; "" is the resource name
	fn     func(r resource) string
}

type resource struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties"`
}

var resources []*resDef

func findResource(name string) *resDef {
	for _, d := range resources {
		if d.name == name {
			return d
		}
		for _, a := range d.aliases {
			if a == name {
				return d
			}
		}
	}
	return nil
}

func init() {
	resources = []*resDef{
		{name: "api", aliases: []string{"apis"}, what: "an API", example: `hybrid --display-name "Hybrid demo" --path hybrid --service-url http://127.0.0.1:18081`, coll: func(string) string { return "/apis" },
			columns: []column{{"NAME", "", nil}, {"DISPLAY NAME", "displayName", nil}, {"PATH", "path", nil}, {"SERVICE URL", "serviceUrl", nil}, {"SUBSCRIPTION", "subscriptionRequired", nil}},
			flags: []flagSpec{{"display-name", "displayName", "display name", ""}, {"path", "path", "URL path suffix", ""},
				{"service-url", "serviceUrl", "backend base URL", ""}, {"protocols", "protocols", "comma-separated: http,https", "list"},
				{"subscription-required", "subscriptionRequired", "true or false", "bool"}, {"description", "description", "description", ""},
				{"key-header", "header", "subscription key header name", "key"}, {"key-query", "query", "subscription key query parameter name", "key"}}},
		{name: "operation", aliases: []string{"operations", "op"}, what: "an operation of an API", example: `test --method GET --url-template /test --display-name "Test call"`, parent: "api", coll: func(p string) string { return "/apis/" + url.PathEscape(p) + "/operations" },
			columns: []column{{"NAME", "", nil}, {"METHOD", "method", nil}, {"URL TEMPLATE", "urlTemplate", nil}, {"DISPLAY NAME", "displayName", nil}},
			flags: []flagSpec{{"method", "method", "HTTP method", ""}, {"url-template", "urlTemplate", "URL template, e.g. /users/{id}", ""},
				{"display-name", "displayName", "display name", ""}, {"description", "description", "description", ""}},
			fillCreate: func(p map[string]any) {
				if _, ok := p["templateParameters"]; ok {
					return
				}
				tmpl, _ := p["urlTemplate"].(string)
				tps := []map[string]any{}
				names, _ := wire.TemplateParams(tmpl) // a bad template: the server's 400 says why
				for _, n := range names {
					tps = append(tps, map[string]any{"name": n, "type": "string", "required": true})
				}
				p["templateParameters"] = tps
			}},
		{name: "product", aliases: []string{"products"}, what: "a product", example: `unlimited --display-name Unlimited --state published --subscription-required true`, coll: func(string) string { return "/products" },
			columns: []column{{"NAME", "", nil}, {"DISPLAY NAME", "displayName", nil}, {"STATE", "state", nil}, {"SUBSCRIPTION", "subscriptionRequired", nil}},
			flags: []flagSpec{{"display-name", "displayName", "display name", ""}, {"description", "description", "description", ""},
				{"state", "state", "published or notPublished", ""}, {"subscription-required", "subscriptionRequired", "true or false", "bool"}},
			extra: map[string]func(*globals, *flag.FlagSet, []string) int{
				"add-api":    apiLink("products", "PUT", "product add-api PRODUCT API", "API %[2]s added to product %[1]s"),
				"remove-api": apiLink("products", "DELETE", "product remove-api PRODUCT API", "API %[2]s removed from product %[1]s"),
				"apis":       apiLink("products", "GET", "product apis PRODUCT", "")}},
		{name: "subscription", aliases: []string{"subscriptions", "sub"}, what: "a subscription", example: `demo --display-name "Demo subscription" --scope /products/unlimited`, coll: func(string) string { return "/subscriptions" },
			columns: []column{{"NAME", "", nil}, {"DISPLAY NAME", "displayName", nil}, {"SCOPE", "scope", nil}, {"STATE", "state", nil}},
			flags: []flagSpec{{"display-name", "displayName", "display name", ""}, {"scope", "scope", "/apis, /apis/{api} or /products/{product}", ""},
				{"state", "state", "active, suspended, …", ""}, {"primary-key", "primaryKey", "primary key (default: generated)", ""},
				{"secondary-key", "secondaryKey", "secondary key (default: generated)", ""}},
			defaults: map[string]any{"state": "active"},
			extra:    map[string]func(*globals, *flag.FlagSet, []string) int{"keys": subscriptionKeys, "regenerate": subscriptionRegenerate}},
		{name: "namedvalue", aliases: []string{"namedvalues", "named-value", "nv"}, what: "a named value", example: `backend-key --display-name backend-key --value s3cret --secret true`, coll: func(string) string { return "/namedValues" },
			columns: []column{{"NAME", "", nil}, {"DISPLAY NAME", "displayName", nil}, {"SECRET", "secret", nil}, {"VALUE", "value", func(r resource) string {
				if s, _ := r.Properties["secret"].(bool); s {
					return "(secret)"
				}
				return prop(r, "value")
			}}},
			flags: []flagSpec{{"display-name", "displayName", "the {{name}} policies use", ""}, {"value", "value", "value", ""},
				{"secret", "secret", "true: never shown by GET", "bool"}},
			extra: map[string]func(*globals, *flag.FlagSet, []string) int{"value": namedValueValue}},
		{name: "backend", aliases: []string{"backends"}, what: "a backend", example: `orders --url http://10.0.0.7:8080 --protocol http`, coll: func(string) string { return "/backends" },
			columns: []column{{"NAME", "", nil}, {"URL", "url", nil}, {"PROTOCOL", "protocol", nil}, {"DESCRIPTION", "description", nil}},
			flags: []flagSpec{{"url", "url", "backend URL", ""}, {"protocol", "protocol", "http or soap", ""},
				{"title", "title", "title", ""}, {"description", "description", "description", ""}}},
		{name: "certificate", aliases: []string{"certificates", "cert"}, what: "a certificate", example: "backend-client --file client.pfx --password s3cret", coll: func(string) string { return "/certificates" },
			columns: []column{{"NAME", "", nil}, {"SUBJECT", "subject", nil}, {"THUMBPRINT", "thumbprint", nil}, {"EXPIRES", "expirationDate", nil}, {"KEY", "hasPrivateKey", nil}},
			flags: []flagSpec{{"file", "data", "PFX or PEM file (certificate, optionally its key)", "file64"},
				{"password", "password", "password of the PFX (or of an encrypted PEM key)", ""}}},
		{name: "cache", aliases: []string{"caches"}, what: "an external cache", example: `default --connection-string 'redis.local:6380,password=…,ssl=True,abortConnect=False' --use-from-location default`, coll: func(string) string { return "/caches" },
			columns: []column{{"NAME", "", nil}, {"USE FROM LOCATION", "useFromLocation", nil}, {"CONNECTION STRING", "connectionString", nil}, {"DESCRIPTION", "description", nil}},
			flags: []flagSpec{{"connection-string", "connectionString", "Redis connection string (host:port,password=…,ssl=True,abortConnect=False)", ""},
				{"connection-string-file", "connectionString", "file holding the connection string (keeps the password out of the shell history)", "file"},
				{"use-from-location", "useFromLocation", `"default" or a gateway location`, ""}, {"description", "description", "description", ""},
				{"resource-id", "resourceId", "the Azure resource behind it (informational)", ""}}},
		{name: "schema", aliases: []string{"schemas"}, what: "a schema of an API", example: `pets --content-type application/vnd.oai.openapi.components+json --components petstore.json`, parent: "api", coll: func(p string) string { return "/apis/" + url.PathEscape(p) + "/schemas" },
			columns: []column{{"NAME", "", nil}, {"CONTENT TYPE", "contentType", nil}, {"DESCRIPTION", "description", nil}},
			flags: []flagSpec{{"content-type", "contentType", "application/vnd.oai.openapi.components+json, application/vnd.ms-azure-apim.swagger.definitions+json, application/json, …", ""},
				{"components", "components", "JSON file: OpenAPI 3 components (or a whole OpenAPI document: its components are taken)", "docjson"},
				{"definitions", "definitions", "JSON file: Swagger 2 definitions (or a whole Swagger document: its definitions are taken)", "docjson"},
				{"value", "value", "file holding the schema text (a JSON Schema, an XSD, …)", "docfile"},
				{"description", "description", "description", ""}}},
		{name: "globalschema", aliases: []string{"globalschemas", "global-schema"}, what: "a service-level schema", example: `address --schema-type json --document address.schema.json`, coll: func(string) string { return "/schemas" },
			columns: []column{{"NAME", "", nil}, {"TYPE", "schemaType", nil}, {"DESCRIPTION", "description", nil}},
			flags: []flagSpec{{"schema-type", "schemaType", "json or xml", ""}, {"document", "document", "JSON file: the JSON Schema (schemaType json)", "jsonfile"},
				{"value", "value", "file holding the schema text (an XSD for schemaType xml)", "file"}, {"description", "description", "description", ""}}},
		{name: "fragment", aliases: []string{"fragments", "policy-fragment", "policyfragment"}, what: "a policy fragment", example: `cors --xml cors-fragment.xml --description "CORS for every API"`, coll: func(string) string { return "/policyFragments" },
			columns:  []column{{"NAME", "", nil}, {"FORMAT", "format", nil}, {"DESCRIPTION", "description", nil}},
			flags:    []flagSpec{{"description", "description", "description", ""}, {"xml", "value", "file holding the <fragment> document", "file"}},
			defaults: map[string]any{"format": "rawxml"}},
		{name: "gateway", aliases: []string{"gateways"}, what: "a gateway", example: `gw1 --location "Berlin edge" --description "first box"`, coll: func(string) string { return "/gateways" },
			columns: []column{{"NAME", "", nil}, {"LOCATION", "locationData.name", nil}, {"STATE", "status.state", nil},
				{"LAST HEARTBEAT", "status.lastHeartbeat", nil}, {"SNAPSHOT", "status.snapshotVersion", nil}, {"LATEST", "status.latestSnapshotVersion", nil}},
			flags: []flagSpec{{"location", "name", "location name", "location"}, {"description", "description", "description", ""}},
			extra: map[string]func(*globals, *flag.FlagSet, []string) int{
				"assign":   apiLink("gateways", "PUT", "gateway assign GATEWAY API", "API %[2]s assigned to gateway %[1]s"),
				"unassign": apiLink("gateways", "DELETE", "gateway unassign GATEWAY API", "API %[2]s removed from gateway %[1]s"),
				"apis":     apiLink("gateways", "GET", "gateway apis GATEWAY", ""), "token": gatewayToken, "keys": gatewayKeys, "regenerate-key": gatewayRegenerateKey}},
	}
	for _, d := range resources {
		registerResourceHelp(d)
	}
	for path, h := range map[string]Help{
		"product add-api":         {"product add-api PRODUCT API", "Adds an API to a product.", "apimctl product add-api unlimited hybrid"},
		"product remove-api":      {"product remove-api PRODUCT API", "Removes an API from a product.", "apimctl product remove-api unlimited hybrid"},
		"product apis":            {"product apis PRODUCT", "Lists the APIs of a product.", "apimctl product apis unlimited"},
		"subscription keys":       {"subscription keys NAME", "Shows a subscription's primary and secondary keys (listSecrets).", "apimctl subscription keys demo"},
		"subscription regenerate": {"subscription regenerate NAME [--key primary|secondary]", "Replaces one key of a subscription with a new random one.", "apimctl subscription regenerate demo --key secondary"},
		"namedvalue value":        {"namedvalue value NAME", "Prints a named value's value, also a secret one (listValue).", "apimctl namedvalue value backend-key"},
		"gateway assign":          {"gateway assign GATEWAY API", "Assigns an API to a gateway: the gateway serves it from its next snapshot.", "apimctl gateway assign gw1 hybrid"},
		"gateway unassign":        {"gateway unassign GATEWAY API", "Removes an API from a gateway.", "apimctl gateway unassign gw1 hybrid"},
		"gateway apis":            {"gateway apis GATEWAY", "Lists the APIs a gateway serves.", "apimctl gateway apis gw1"},
		"gateway token":           {"gateway token GATEWAY [--expiry 720h | --expiry RFC3339] [--key primary|secondary]", "Prints a gateway token for env.conf's config.service.auth (\"GatewayKey <id>&<expiry>&<signature>\"), at most 30 days.", "apimctl gateway token gw1 --expiry 720h"},
		"gateway keys":            {"gateway keys GATEWAY", "Shows the keys a gateway's tokens are signed with.", "apimctl gateway keys gw1"},
		"gateway regenerate-key":  {"gateway regenerate-key GATEWAY [--key primary|secondary]", "Replaces one key of a gateway; tokens signed with the old key stop working.", "apimctl gateway regenerate-key gw1 --key primary"},
	} {
		registerHelp(path, h)
	}
}

// runResource implements list/get/create/update/delete and the extras.
func runResource(d *resDef, args []string) int {
	subs := resourceSubs(d)
	if helpWanted(args) {
		printGroup(stdout, d.name, prefixed(d.name, subs))
		return exitOK
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageErr("%s: missing subcommand (%s; apimctl %s --help)", d.name, strings.Join(subs, ", "), d.name)
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "ls":
		sub = "list"
	case "show":
		sub = "get"
	case "rm":
		sub = "delete"
	}
	if !contains(subs, sub) {
		return usageErr("%s: unknown subcommand %q (%s; apimctl %s --help)", d.name, sub, strings.Join(subs, ", "), d.name)
	}
	var g globals
	fs := flag.NewFlagSet("apimctl "+d.name+" "+sub, flag.ContinueOnError)
	addGlobals(fs, &g)
	var parent string
	if d.parent != "" {
		fs.StringVar(&parent, d.parent, "", "the parent "+d.parent)
	}
	if f, ok := d.extra[sub]; ok {
		return f(&g, fs, args)
	}
	var file string
	vals := map[string]*string{}
	if sub == "create" || sub == "update" {
		fs.StringVar(&file, "f", "", "JSON file: {\"properties\":{…}} or the properties alone")
		for _, f := range d.flags {
			vals[f.flag] = fs.String(f.flag, "", f.help)
		}
	}
	pos, _ := parse(fs, args)
	if g.output != "table" && g.output != "json" {
		return usageErr("-o must be table or json")
	}
	if d.parent != "" && parent == "" {
		return usageErr("%s %s: --%s is required", d.name, sub, d.parent)
	}
	c := g.client()
	coll := d.coll(parent)
	one := func() (string, int) {
		if len(pos) != 1 {
			return "", usageErr("%s %s: want exactly one NAME, got %d", d.name, sub, len(pos))
		}
		return coll + "/" + url.PathEscape(pos[0]), -1
	}
	switch sub {
	case "list":
		if len(pos) != 0 {
			return usageErr("%s list takes no arguments", d.name)
		}
		data, _, err := c.do("GET", coll, nil)
		if err != nil {
			return fail(err)
		}
		return printList(&g, d.columns, data)
	case "get":
		path, code := one()
		if code >= 0 {
			return code
		}
		data, _, err := c.do("GET", path, nil)
		if err != nil {
			return fail(err)
		}
		return printOne(&g, d.columns, data)
	case "delete":
		path, code := one()
		if code >= 0 {
			return code
		}
		_, status, err := c.do("DELETE", path, nil)
		if err != nil {
			return fail(err)
		}
		if status == 204 {
			fmt.Fprintf(stdout, "%s %s did not exist\n", d.name, pos[0])
		} else {
			fmt.Fprintf(stdout, "deleted %s %s\n", d.name, pos[0])
		}
		return exitOK
	case "create", "update":
		path, code := one()
		if code >= 0 {
			return code
		}
		props := map[string]any{}
		if file != "" {
			p, err := readPropsFile(file)
			if err != nil {
				return usageErr("%v", err)
			}
			props = p
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for _, f := range d.flags {
			if !set[f.flag] {
				continue
			}
			v := *vals[f.flag]
			switch f.kind {
			case "bool":
				switch strings.ToLower(v) {
				case "true", "yes", "1":
					props[f.prop] = true
				case "false", "no", "0":
					props[f.prop] = false
				default:
					return usageErr("--%s: %q is not true or false", f.flag, v)
				}
			case "list":
				var list []string
				for _, x := range strings.Split(v, ",") {
					if x = strings.TrimSpace(x); x != "" {
						list = append(list, x)
					}
				}
				props[f.prop] = list
			case "key":
				kn, _ := props["subscriptionKeyParameterNames"].(map[string]any)
				if kn == nil {
					kn = map[string]any{}
				}
				kn[f.prop] = v
				props["subscriptionKeyParameterNames"] = kn
			case "location":
				props["locationData"] = map[string]any{f.prop: v}
			case "file":
				b, err := os.ReadFile(v)
				if err != nil {
					return usageErr("--%s: %v", f.flag, err)
				}
				props[f.prop] = string(b)
			case "jsonfile":
				b, err := os.ReadFile(v)
				if err != nil {
					return usageErr("--%s: %v", f.flag, err)
				}
				var j any
				if err := json.Unmarshal(b, &j); err != nil {
					return usageErr("--%s: %s is not JSON: %v", f.flag, v, err)
				}
				props[f.prop] = j
			case "docjson", "docfile": // a schema's document.<prop>
				b, err := os.ReadFile(v)
				if err != nil {
					return usageErr("--%s: %v", f.flag, err)
				}
				doc, _ := props["document"].(map[string]any)
				if doc == nil {
					doc = map[string]any{}
				}
				if f.kind == "docfile" {
					doc[f.prop] = string(b)
				} else {
					var j map[string]any
					if err := json.Unmarshal(b, &j); err != nil {
						return usageErr("--%s: %s is not a JSON object: %v", f.flag, v, err)
					}
					if inner, ok := j[f.prop].(map[string]any); ok && (j["openapi"] != nil || j["swagger"] != nil) {
						j = inner // a whole OpenAPI / Swagger document
					}
					doc[f.prop] = j
				}
				props["document"] = doc
			case "file64": // a binary file (a PFX) sent base64-encoded
				b, err := os.ReadFile(v)
				if err != nil {
					return usageErr("--%s: %v", f.flag, err)
				}
				props[f.prop] = base64.StdEncoding.EncodeToString(b)
			default:
				props[f.prop] = v
			}
		}
		method := "PATCH"
		if sub == "create" {
			method = "PUT"
			for k, v := range d.defaults {
				if _, ok := props[k]; !ok {
					props[k] = v
				}
			}
			if d.fillCreate != nil {
				d.fillCreate(props)
			}
		}
		data, status, err := c.do(method, path, map[string]any{"properties": props})
		if err != nil {
			return fail(err)
		}
		if g.output == "json" {
			return printJSON(data)
		}
		verb := "updated"
		if status == 201 {
			verb = "created"
		}
		fmt.Fprintf(stdout, "%s %s %s\n", verb, d.name, pos[0])
		return exitOK
	}
	return usageErr("%s: unknown subcommand %q", d.name, sub)
}

// readPropsFile reads {"properties":{…}} or a bare properties object.
func readPropsFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v", path, err)
	}
	if p, ok := m["properties"].(map[string]any); ok {
		return p, nil
	}
	return m, nil
}

// prefixed returns group+" "+each of subs.
func prefixed(group string, subs []string) []string {
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = group + " " + s
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// simple runs a fixed request for the extras.
func simple(g *globals, fs *flag.FlagSet, args []string, want int, usage string, fn func(c *client, pos []string) int) int {
	pos, _ := parse(fs, args)
	if len(pos) != want {
		return usageErr("usage: apimctl %s", usage)
	}
	return fn(g.client(), pos)
}

// apiLink makes the commands that link APIs to a product or a gateway:
// PUT or DELETE /{collection}/{id}/apis/{api} and GET /{collection}/{id}/apis.
// method "PUT" links, "DELETE" unlinks, "GET" lists; done is the sentence
// printed after a change ("API %[2]s added to product %[1]s").
func apiLink(collection, method, usage, done string) func(*globals, *flag.FlagSet, []string) int {
	n := 2
	if method == "GET" {
		n = 1
	}
	return func(g *globals, fs *flag.FlagSet, args []string) int {
		return simple(g, fs, args, n, usage, func(c *client, p []string) int {
			path := "/" + collection + "/" + url.PathEscape(p[0]) + "/apis"
			if method == "GET" {
				data, _, err := c.do("GET", path, nil)
				if err != nil {
					return fail(err)
				}
				return printList(g, findResource("api").columns, data)
			}
			if _, _, err := c.do(method, path+"/"+url.PathEscape(p[1]), nil); err != nil {
				return fail(err)
			}
			fmt.Fprintf(stdout, done+"\n", p[0], p[1])
			return exitOK
		})
	}
}

func subscriptionKeys(g *globals, fs *flag.FlagSet, args []string) int {
	return simple(g, fs, args, 1, "subscription keys NAME", func(c *client, p []string) int {
		data, _, err := c.do("POST", "/subscriptions/"+url.PathEscape(p[0])+"/listSecrets", nil)
		if err != nil {
			return fail(err)
		}
		if g.output == "json" {
			return printJSON(data)
		}
		var k struct{ PrimaryKey, SecondaryKey string }
		json.Unmarshal(data, &k)
		fmt.Fprintf(stdout, "primary:   %s\nsecondary: %s\n", k.PrimaryKey, k.SecondaryKey)
		return exitOK
	})
}

func subscriptionRegenerate(g *globals, fs *flag.FlagSet, args []string) int {
	key := fs.String("key", "primary", "primary or secondary")
	return simple(g, fs, args, 1, "subscription regenerate NAME [--key primary|secondary]", func(c *client, p []string) int {
		action := map[string]string{"primary": "regeneratePrimaryKey", "secondary": "regenerateSecondaryKey"}[*key]
		if action == "" {
			return usageErr("--key must be primary or secondary")
		}
		if _, _, err := c.do("POST", "/subscriptions/"+url.PathEscape(p[0])+"/"+action, nil); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "regenerated the %s key of subscription %s\n", *key, p[0])
		return exitOK
	})
}

func namedValueValue(g *globals, fs *flag.FlagSet, args []string) int {
	return simple(g, fs, args, 1, "namedvalue value NAME", func(c *client, p []string) int {
		data, _, err := c.do("POST", "/namedValues/"+url.PathEscape(p[0])+"/listValue", nil)
		if err != nil {
			return fail(err)
		}
		if g.output == "json" {
			return printJSON(data)
		}
		var v struct{ Value string }
		json.Unmarshal(data, &v)
		fmt.Fprintln(stdout, v.Value)
		return exitOK
	})
}
