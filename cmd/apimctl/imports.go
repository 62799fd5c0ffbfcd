package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/apimgw/apimgw/controlplane/importer"
)

// importKinds are the subcommands of import.
var importKinds = []string{"openapi", "apiops"}

func init() {
	registerHelp("import openapi", Help{Usage: "import openapi FILE --api ID --path SUFFIX [--service-url URL] [--display-name NAME] [--dry-run]",
		Summary: "Creates or updates an API from an OpenAPI 2 or 3 document (JSON or YAML); its operations become exactly the document's.",
		Example: "apimctl import openapi petstore.yaml --api petstore --path pets --service-url http://10.0.0.7:8080"})
	registerHelp("import apiops", Help{Usage: "import apiops DIR [--dry-run] [--keep-going]",
		Summary: "Creates or updates every resource of an APIOps extractor directory (apis/, products/, namedValues/, …).",
		Example: "apimctl import apiops ./artifacts --dry-run"})
}

func runImport(args []string) int {
	if helpWanted(args) {
		printGroup(stdout, "import", prefixed("import", importKinds))
		return exitOK
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageErr("usage: apimctl import openapi FILE --api ID --path SUFFIX [--service-url URL] | import apiops DIR")
	}
	switch args[0] {
	case "openapi":
		return importOpenAPI(args[1:])
	case "apiops":
		return importAPIOps(args[1:])
	}
	return usageErr("import: unknown kind %q (openapi, apiops; apimctl import --help)", args[0])
}

// importOpenAPI creates or updates an API and makes its operations exactly
// those of the document (operations no longer in it are deleted).
func importOpenAPI(args []string) int {
	var g globals
	fs := flag.NewFlagSet("apimctl import openapi", flag.ContinueOnError)
	addGlobals(fs, &g)
	apiID := fs.String("api", "", "API id (required)")
	path := fs.String("path", "", "URL path suffix the gateway serves the API under (required)")
	serviceURL := fs.String("service-url", "", "backend base URL (default: the document's first server)")
	displayName := fs.String("display-name", "", "display name (default: info.title)")
	dryRun := fs.Bool("dry-run", false, "print what would be written, write nothing")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr("import openapi: %v", err)
	}
	if len(pos) != 1 || *apiID == "" || !fs.Parsed() {
		return usageErr("usage: apimctl import openapi FILE --api ID --path SUFFIX [--service-url URL]")
	}
	pathSet := false
	fs.Visit(func(f *flag.Flag) { pathSet = pathSet || f.Name == "path" })
	if !pathSet {
		return usageErr("import openapi: --path is required (use --path \"\" for the root)")
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return usageErr("import openapi: %v", err)
	}
	api, err := importer.ParseOpenAPI(pos[0], data)
	if err != nil {
		return fail(err)
	}
	for _, w := range api.Warnings {
		fmt.Fprintln(os.Stderr, "apimctl: warning:", w)
	}
	svc := *serviceURL
	if svc == "" {
		svc = api.ServiceURL
	}
	name := *displayName
	if name == "" {
		name = api.Title
	}
	if name == "" {
		name = *apiID
	}
	props := map[string]any{"displayName": name, "path": *path, "protocols": []string{"http", "https"}}
	if svc != "" {
		props["serviceUrl"] = svc
	} else {
		fmt.Fprintln(os.Stderr, "apimctl: warning: no absolute server URL in the document and no --service-url: the API has no backend until a policy sets one")
	}
	if api.Description != "" {
		d := api.Description
		if len(d) > 1000 {
			d = d[:1000]
		}
		props["description"] = d
	}
	steps := []importer.Step{{Method: "PUT", Path: "/apis/" + url.PathEscape(*apiID), Body: map[string]any{"properties": props}, Source: pos[0]}}
	if api.Schema != nil {
		// The document's schemas (validate-content validates against them).
		steps = append(steps, importer.Step{Method: "PUT", Path: "/apis/" + url.PathEscape(*apiID) + "/schemas/" + url.PathEscape(api.Schema.ID), Body: importer.SchemaBody(api.Schema), Source: pos[0]})
	}
	keep := map[string]bool{}
	for _, op := range api.Operations {
		keep[op.ID] = true
		steps = append(steps, importer.Step{Method: "PUT", Path: "/apis/" + url.PathEscape(*apiID) + "/operations/" + url.PathEscape(op.ID), Body: importer.OperationBody(op), Source: pos[0]})
	}
	if *dryRun {
		return printPlan(steps)
	}
	c := g.client()
	// Existing operations no longer in the document go, so a re-import
	// leaves exactly the document's operations; they go first, so a renamed
	// operation does not collide with its old method + template.
	if data, _, err := c.do("GET", "/apis/"+url.PathEscape(*apiID)+"/operations", nil); err == nil {
		var l struct{ Value []resource }
		json.Unmarshal(data, &l)
		for _, r := range l.Value {
			if !keep[r.Name] {
				if _, _, err := c.do("DELETE", "/apis/"+url.PathEscape(*apiID)+"/operations/"+url.PathEscape(r.Name), nil); err != nil {
					return fail(err)
				}
				fmt.Fprintf(stdout, "deleted operation %s (not in the document)\n", r.Name)
			}
		}
	} else {
		var ae *apiError
		if !errors.As(err, &ae) || ae.status != 404 {
			return fail(err)
		}
	}
	created, updated, same, code := applyPlan(c, steps, true)
	if code != exitOK {
		return code
	}
	fmt.Fprintf(stdout, "API %s with %d operations: %d created, %d updated, %d unchanged (the API counted too)\n", *apiID, len(api.Operations), created, updated, same)
	return exitOK
}

func importAPIOps(args []string) int {
	var g globals
	fs := flag.NewFlagSet("apimctl import apiops", flag.ContinueOnError)
	addGlobals(fs, &g)
	dryRun := fs.Bool("dry-run", false, "print what would be written, write nothing")
	keepGoing := fs.Bool("keep-going", false, "continue after a refused write (the exit code still reports it)")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr("import apiops: %v", err)
	}
	if len(pos) != 1 {
		return usageErr("usage: apimctl import apiops DIR [--dry-run]")
	}
	plan, err := importer.ReadAPIOps(pos[0])
	if err != nil {
		return fail(err)
	}
	for _, w := range plan.Warnings {
		fmt.Fprintln(os.Stderr, "apimctl: warning:", w)
	}
	if *dryRun {
		return printPlan(plan.Steps)
	}
	created, updated, same, code := applyPlan(g.client(), plan.Steps, !*keepGoing)
	fmt.Fprintf(stdout, "%d resources: %d created, %d updated, %d unchanged; %d warnings\n", len(plan.Steps), created, updated, same, len(plan.Warnings))
	return code
}

func printPlan(steps []importer.Step) int {
	for _, s := range steps {
		fmt.Fprintf(stdout, "%s %s\t(%s)\n", s.Method, s.Path, s.Source)
	}
	return exitOK
}

// applyPlan runs the steps in order. A step whose resource already has the
// same content is reported unchanged (the server keeps its ETag). With
// stopOnError it stops at the first refused write.
func applyPlan(c *client, steps []importer.Step, stopOnError bool) (created, updated, same, code int) {
	code = exitOK
	for _, s := range steps {
		var before string
		if s.Method == "PUT" {
			if data, _, err := c.do("GET", s.Path, nil); err == nil {
				before = propsOf(data)
			}
		}
		data, status, err := c.do(s.Method, s.Path, s.Body)
		if err != nil {
			fmt.Fprintf(os.Stderr, "apimctl: %s %s (from %s):\n", s.Method, s.Path, s.Source)
			c := fail(err)
			if code == exitOK {
				code = c
			}
			if stopOnError {
				return
			}
			continue
		}
		switch {
		case status == 201:
			created++
		case before != "" && before == propsOf(data):
			same++
		default:
			updated++
		}
	}
	return
}

// propsOf compares resource versions through their JSON (the management API
// keeps the content when a PUT changes nothing).
func propsOf(data []byte) string {
	var r struct {
		Properties json.RawMessage `json:"properties"`
	}
	json.Unmarshal(data, &r)
	return string(r.Properties)
}
