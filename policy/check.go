package policy

import (
	"errors"
	"fmt"
	"io"
)

// Check compiles one document on its own, as `apimctl policy check` does: a
// <policies> document as an operation-scope policy, a <fragment> document as a
// fragment. Options usually has Offline set (no snapshot: undefined named
// values, backends and fragments are accepted). It returns nil or an
// ErrorList.
func Check(o Options, name string, src []byte) error {
	doc, err := Read(name, src)
	cp := NewCompiler(o)
	if err != nil {
		return cp.list(err)
	}
	if doc.Root.Name == "fragment" {
		return cp.CheckFragment(Source{Name: name, XML: src})
	}
	_, err = cp.CompileDocument(ScopeOperation, doc)
	return err
}

// WriteCheck prints the result of Check for one file: "NAME: OK", or one line
// per error ("NAME:LINE:COL: <element>: reason").
func WriteCheck(w io.Writer, name string, err error) {
	if err == nil {
		fmt.Fprintf(w, "%s: OK\n", name)
		return
	}
	var l ErrorList
	if errors.As(err, &l) {
		for _, e := range l {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", name, err)
}
