package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// runPolicies: apimctl policies get|set|delete [--product P | --api A [--operation O]] [--xml FILE | -f FILE.json]
// (the scope is global when no flag names one).
// policiesSubs are the subcommands of policies.
var policiesSubs = []string{"get", "set", "delete"}

func init() {
	scope := " [--product P | --api A [--operation O]]"
	registerHelp("policies get", Help{Usage: "policies get" + scope, Summary: "Prints the policy document of a scope (global when no flag names one).",
		Example: "apimctl policies get --api hybrid --operation test"})
	registerHelp("policies set", Help{Usage: "policies set" + scope + " --xml FILE | -f FILE.json",
		Summary: "Sets the policy document of a scope; the control plane compiles it first and refuses one that does not compile, naming element and reason.",
		Example: "apimctl policies set --api hybrid --operation test --xml rate-limit.xml"})
	registerHelp("policies delete", Help{Usage: "policies delete" + scope, Summary: "Deletes the policy document of a scope.",
		Example: "apimctl policies delete --product unlimited"})
}

func runPolicies(args []string) int {
	if helpWanted(args) {
		printGroup(stdout, "policies", prefixed("policies", policiesSubs))
		return exitOK
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageErr("usage: apimctl policies get|set|delete [--product P | --api A [--operation O]] [--xml FILE]")
	}
	sub, args := args[0], args[1:]
	if !contains(policiesSubs, sub) {
		return usageErr("policies: unknown subcommand %q (get, set, delete; apimctl policies --help)", sub)
	}
	var g globals
	fs := flag.NewFlagSet("apimctl policies "+sub, flag.ContinueOnError)
	addGlobals(fs, &g)
	product := fs.String("product", "", "product scope")
	api := fs.String("api", "", "API scope")
	op := fs.String("operation", "", "operation scope (with --api)")
	xmlFile := fs.String("xml", "", "policy document file (set)")
	jsonFile := fs.String("f", "", "ARM JSON body file (set)")
	pos, _ := parse(fs, args)
	if len(pos) != 0 {
		return usageErr("policies %s: unexpected argument %q", sub, pos[0])
	}
	path := "/policies/policy"
	switch {
	case *product != "" && (*api != "" || *op != ""):
		return usageErr("policies: --product cannot be combined with --api/--operation")
	case *op != "" && *api == "":
		return usageErr("policies: --operation needs --api")
	case *product != "":
		path = "/products/" + url.PathEscape(*product) + "/policies/policy"
	case *op != "":
		path = "/apis/" + url.PathEscape(*api) + "/operations/" + url.PathEscape(*op) + "/policies/policy"
	case *api != "":
		path = "/apis/" + url.PathEscape(*api) + "/policies/policy"
	}
	c := g.client()
	switch sub {
	case "get":
		data, _, err := c.do("GET", path, nil)
		if err != nil {
			return fail(err)
		}
		if g.output == "json" {
			return printJSON(data)
		}
		var r struct{ Properties struct{ Value string } }
		json.Unmarshal(data, &r)
		fmt.Fprintln(stdout, r.Properties.Value)
		return exitOK
	case "set":
		var body any
		switch {
		case *xmlFile != "" && *jsonFile == "":
			b, err := os.ReadFile(*xmlFile)
			if err != nil {
				return usageErr("--xml: %v", err)
			}
			body = map[string]any{"properties": map[string]any{"format": "rawxml", "value": string(b)}}
		case *jsonFile != "" && *xmlFile == "":
			p, err := readPropsFile(*jsonFile)
			if err != nil {
				return usageErr("-f: %v", err)
			}
			body = map[string]any{"properties": p}
		default:
			return usageErr("policies set: give exactly one of --xml FILE or -f FILE.json")
		}
		_, status, err := c.do("PUT", path, body)
		if err != nil {
			return fail(err)
		}
		verb := "updated"
		if status == 201 {
			verb = "created"
		}
		fmt.Fprintf(stdout, "%s %s from %s\n", verb, path, filepath.Base(*xmlFile+*jsonFile))
		return exitOK
	case "delete":
		if _, _, err := c.do("DELETE", path, nil); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "deleted %s\n", path)
		return exitOK
	}
	return usageErr("policies: unknown subcommand %q (get, set, delete)", sub)
}
