package policy

// wait runs its children and waits for them (for="all") or the first of them
// (for="any"). None of the policies this gateway supports starts asynchronous
// work (send-request, cache lookups are not supported and fail to compile), so
// the children complete in order; anything inside that needs time (a retry
// delay, a forward) still suspends the pipeline with Wait/Forward as usual.
func init() {
	register("wait", inAll, []string{"for"}, compileWait)
}

func compileWait(b *builder, n *Node) {
	b.noText(n)
	b.attrEnum(n, "for", "all", "all", "any")
	b.meta(n)
	b.policies(n.Children)
}
