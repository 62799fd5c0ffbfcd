package policy

import "strings"

// include-fragment compiles the named <fragment> document in place, in the
// section (and for the target) where it is included. Errors inside it name
// the fragment's own Source; cycles are compile errors.
func init() {
	register("include-fragment", inAll, []string{"fragment-id"}, compileIncludeFragment)
}

func compileIncludeFragment(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	id := b.attrString(n, "fragment-id", true, "")
	if id == "" {
		return
	}
	src, ok := b.cp.opts.Fragments[id]
	if !ok {
		if !b.cp.opts.Offline {
			b.errorf(n, ErrFragment, "fragment %q is not defined", id)
		}
		return
	}
	for _, f := range b.fragStack {
		if f == id {
			b.errorf(n, ErrFragment, "fragment %q includes itself (%s → %s)", id, strings.Join(b.fragStack, " → "), id)
			return
		}
	}
	doc, ok := b.cp.fragments[id]
	if !ok {
		var err error
		doc, err = Read(src.Name, src.XML)
		if err != nil {
			if e, ok := err.(*Error); ok {
				*b.errs = append(*b.errs, e)
			}
			b.errorf(n, ErrFragment, "fragment %q cannot be read", id)
			return
		}
		b.cp.fragments[id] = doc
	}
	if doc.Root.Name != "fragment" {
		b.errorf(n, ErrFragment, "fragment %q: root element is <%s>, not <fragment>", id, doc.Root.Name)
		return
	}
	file, lines, outer := b.file, b.lines, b.doc
	b.file, b.lines, b.doc = doc.File, doc.lines, doc
	b.fragStack = append(b.fragStack, id)
	b.checkRootAttrs(doc.Root)
	b.noText(doc.Root)
	b.policies(doc.Root.Children)
	b.fragStack = b.fragStack[:len(b.fragStack)-1]
	b.file, b.lines, b.doc = file, lines, outer
}
