package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
)

// prop reads a dotted path of r's properties as text ("" when absent).
func prop(r resource, path string) string {
	if path == "" {
		return r.Name
	}
	var cur any = r.Properties
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[k]
	}
	switch v := cur.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return fmt.Sprint(v)
	case bool:
		return fmt.Sprint(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func printJSON(data []byte) int {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		stdout.Write(data)
		return exitOK
	}
	buf.WriteByte('\n')
	stdout.Write(buf.Bytes())
	return exitOK
}

func printTable(cols []column, rows []resource) {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	var h []string
	for _, c := range cols {
		h = append(h, c.header)
	}
	fmt.Fprintln(tw, strings.Join(h, "\t"))
	for _, r := range rows {
		var cells []string
		for _, c := range cols {
			v := ""
			if c.fn != nil {
				v = c.fn(r)
			} else {
				v = prop(r, c.path)
			}
			if v == "" {
				v = "-"
			}
			cells = append(cells, v)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
}

func printList(g *globals, cols []column, data []byte) int {
	if g.output == "json" {
		return printJSON(data)
	}
	var l struct{ Value []resource }
	if err := json.Unmarshal(data, &l); err != nil {
		return fail(fmt.Errorf("unexpected answer from the control plane: %v", err))
	}
	printTable(cols, l.Value)
	return exitOK
}

// printOne shows one resource: the table row, then its properties.
func printOne(g *globals, cols []column, data []byte) int {
	if g.output == "json" {
		return printJSON(data)
	}
	var r resource
	if err := json.Unmarshal(data, &r); err != nil {
		return fail(fmt.Errorf("unexpected answer from the control plane: %v", err))
	}
	printTable(cols, []resource{r})
	b, _ := json.MarshalIndent(r.Properties, "", "  ")
	fmt.Fprintf(stdout, "\nproperties:\n%s\n", b)
	return exitOK
}
